"""Reference numbers (e.g. the paper's Tables 1 and 2) beside ours, with the deltas.

A reference file (``report.reference``) is YAML:

    label: paper                 # the name of its rows in the comparison tables
    source: where the numbers come from (free text)
    table1:                      # base label -> Table 1 row label -> column -> number
      Base:
        base: {AVG: 0.395, MT: 0.824, ja-en BLEU: 12.5, ...}
    table2:                      # base label -> Table 2 column -> {AVG, MT}
      Base:
        Linear: {AVG: 0.388, MT: 0.830}

Row and column names are those of our tables (base labels from ``bases.*.label``, merge
labels from ``merges.*.label``). The comparison tables interleave, per row of ours, the
reference's row and the delta (ours - reference, on the displayed values).
"""
from __future__ import annotations

import pandas as pd
import yaml

from .common import WorkflowError
from .tables import METRICS, NA, PART_SEP, finite, fmt, fmt_signed, kind, number, parts

DIRECTIONS = ("ja-en", "en-ja")
TABLE1_COLUMNS = ("AVG", "MT", *(f"{d} {m}" for d in DIRECTIONS for m in METRICS))
TABLE2_SCORES = ("AVG", "MT")
DELTA = "Δ"


def _number(value, where: str) -> float | None:
    if value is None:
        return None
    if finite(value) is None:
        raise WorkflowError(f"{where}: {value!r} is not a number (or null)")
    return float(value)


def _mapping(value, where: str) -> dict:
    if not isinstance(value, dict) or not value:
        raise WorkflowError(f"{where}: must be a non-empty mapping, got {value!r}")
    for key in value:
        if not isinstance(key, str):
            raise WorkflowError(f"{where}: key {key!r} is not a string")
    return value


def load_reference(path) -> dict:
    """The reference file, validated: errors name the file and the key."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except OSError as err:
        raise WorkflowError(f"{path}: cannot read the reference file ({err})") from err
    except yaml.YAMLError as err:
        raise WorkflowError(f"{path}: not valid YAML ({err})") from err
    data = _mapping(data, f"{path}")
    unknown = set(data) - {"label", "source", "table1", "table2"}
    if unknown:
        raise WorkflowError(f"{path}: unknown key(s) {sorted(unknown)}; expected label, source, "
                            "table1, table2")
    if not isinstance(data.get("label", "reference"), str):
        raise WorkflowError(f"{path}: label: must be a string")
    if "table1" not in data and "table2" not in data:
        raise WorkflowError(f"{path}: needs table1 and/or table2")
    out = {"label": data.get("label", "reference"), "source": str(data.get("source", "")),
           "table1": {}, "table2": {}}
    table1 = _mapping(data["table1"], f"{path}: table1") if "table1" in data else {}
    for base, rows in table1.items():
        for model, cols in _mapping(rows, f"{path}: table1.{base}").items():
            where = f"{path}: table1.{base}.{model}"
            for column, value in _mapping(cols, where).items():
                if column not in TABLE1_COLUMNS:
                    raise WorkflowError(f"{where}: {column!r} is not a Table 1 column "
                                        f"({', '.join(TABLE1_COLUMNS)})")
                out["table1"].setdefault(base, {}).setdefault(model, {})[column] = \
                    _number(value, f"{where}.{column}")
    table2 = _mapping(data["table2"], f"{path}: table2") if "table2" in data else {}
    for base, cols in table2.items():
        for column, scores in _mapping(cols, f"{path}: table2.{base}").items():
            where = f"{path}: table2.{base}.{column}"
            scores = _mapping(scores, where)
            unknown = set(scores) - set(TABLE2_SCORES)
            if unknown:
                raise WorkflowError(f"{where}: unknown score(s) {sorted(unknown)}; expected AVG, MT")
            out["table2"].setdefault(base, {})[column] = {
                k: _number(scores.get(k), f"{where}.{k}") for k in TABLE2_SCORES}
    return out


def compare(ours: pd.DataFrame, reference: dict, table: str, key_columns: list[str],
            score_columns: list[str], notes: list[str]) -> pd.DataFrame:
    """Our rows interleaved with the reference's and the deltas, one ``source`` column.

    ``table`` is "table1" (cells one score) or "table2" (cells "AVG / MT", reference
    entries per column). Rows or cells the reference lacks read n/a, with a note.
    """
    label = reference["label"]
    ref = reference[table]
    rows, missing = [], []
    for _, row in ours.iterrows():
        base = row["base"]
        keys = {c: row[c] for c in key_columns}
        if table == "table1":
            entry = ref.get(base, {}).get(row["model"])
            if entry is None:
                missing.append(f"{base} / {row['model']}")
            ref_cells = {c: fmt((entry or {}).get(c), kind(c)) for c in score_columns}
        else:
            entry = ref.get(base)
            if entry is None:
                missing.append(base)
            ref_cells = {}
            for c in score_columns:
                scores = (entry or {}).get(c) or {}
                ref_cells[c] = PART_SEP.join(fmt(scores.get(k)) for k in TABLE2_SCORES)
        deltas = {}
        for c in score_columns:
            pieces = []
            for ours_text, ref_text in zip(parts(row[c]), parts(ref_cells[c])):
                a, b = number(ours_text), number(ref_text)
                pieces.append(NA if a is None or b is None else fmt_signed(round(a - b, 10), kind(c)))
            deltas[c] = PART_SEP.join(pieces)
        rows.append({**keys, "source": "ours", **{c: row[c] for c in score_columns}})
        rows.append({**keys, "source": label, **ref_cells})
        rows.append({**keys, "source": DELTA, **deltas})
    if missing:
        notes.append(f"not in the reference ({label}): {', '.join(missing)}")
    if table == "table1":
        ours_rows = set(zip(ours["base"], ours["model"]))
        unused = [f"{b} / {m}" for b, rows_ in ref.items() for m in rows_ if (b, m) not in ours_rows]
    else:
        unused = [b for b in ref if b not in set(ours["base"])]
    if unused:
        notes.append(f"in the reference ({label}) but not in our table: {', '.join(unused)}")
    notes.append(f"{DELTA} = ours - {label}, on the displayed values")
    return pd.DataFrame(rows, columns=[*key_columns, "source", *score_columns])
