"""Evaluation JSONs -> the paper's Table 1 and Table 2 (Markdown and CSV).

Table 1: per base, the base model, each CPT model and the Table-1 merge, with AVG and MT
(llm-jp-eval) and per direction BERTScore, BLEU and COMET. Table 2: per base, AVG / MT of the
base model and of every merge. Scores in 0-1 get 3 decimals, BLEU (0-100) 3 significant
digits as in the paper (12.5, 7.07). A value that was not measured is "n/a", never 0.
"""
from __future__ import annotations

import json
import math

import pandas as pd

from .common import WorkflowError, atomic_open, first_log, get_logger, read_json

NA = "n/a"
METRIC_COLUMNS = (("BERTScore", "bert_score"), ("BLEU", "bleu"), ("COMET", "comet"))


def fmt(value, kind: str = "score") -> str:
    """A score (0-1) with 3 decimals, BLEU with 3 significant digits; None/NaN/inf -> n/a."""
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return NA
    if not math.isfinite(value):
        return NA
    if kind != "bleu":
        return f"{value:.3f}"
    digits = 1 if value == 0 else min(3, max(0, 2 - math.floor(math.log10(abs(value)))))
    return f"{value:.{digits}f}"


def load_results(runs: list[dict], paths: list[str]) -> dict[tuple[str, str], dict]:
    """{(base, model): evaluation JSON}; unreadable or malformed files fail naming the file."""
    if len(runs) != len(paths):
        raise WorkflowError(f"aggregate: {len(paths)} evaluation files for {len(runs)} runs")
    results = {}
    for run, path in zip(runs, paths):
        try:
            res = read_json(path)
        except (OSError, json.JSONDecodeError) as err:
            raise WorkflowError(f"{path}: not a readable evaluation JSON ({err})") from err
        if not isinstance(res, dict):
            raise WorkflowError(f"{path}: an evaluation JSON must be an object")
        for key in ("AVG", "MT"):
            value = res.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise WorkflowError(f"{path}: {key} is not a number or null: {value!r}")
        results[(run["base"], run["model"])] = res
    return results


def _result(results: dict, base: str, model: str) -> dict:
    if (base, model) not in results:
        raise WorkflowError(f"aggregate: no evaluation of model {model!r} for base {base!r}")
    return results[(base, model)]


def model_label(model: str, merges: dict[str, str]) -> str:
    return f"merged ({merges[model]})" if model in merges else model


def table1(results: dict, bases: dict, merges: dict, directions: list, table1_merge: str) -> pd.DataFrame:
    """Rows per base: base, each direction's CPT model, the Table-1 merge."""
    rows = []
    for base, label in bases.items():
        for model in ["base", *directions, table1_merge]:
            res = _result(results, base, model)
            row = {"base": label, "model": model_label(model, merges),
                   "AVG": fmt(res.get("AVG")), "MT": fmt(res.get("MT"))}
            translation = res.get("translation") or {}
            for direction in directions:
                scores = translation.get(direction) or {}
                for column, key in METRIC_COLUMNS:
                    row[f"{direction} {column}"] = fmt(scores.get(key), kind=key)
            rows.append(row)
    return pd.DataFrame(rows)


def table2(results: dict, bases: dict, merges: dict) -> pd.DataFrame:
    """One row per base: "AVG / MT" of the base model and of every merge (by label)."""
    rows = []
    for base, label in bases.items():
        row = {"base": label}
        for model, column in [("base", "base model"), *merges.items()]:
            res = _result(results, base, model)
            row[column] = f"{fmt(res.get('AVG'))} / {fmt(res.get('MT'))}"
        rows.append(row)
    return pd.DataFrame(rows)


def write_table(df: pd.DataFrame, md_path, csv_path) -> None:
    with atomic_open(csv_path) as fh:
        df.to_csv(fh, index=False)
    with atomic_open(md_path) as fh:
        fh.write(df.to_markdown(index=False, tablefmt="github", disable_numparse=True) + "\n")


def main(smk) -> None:
    logger = get_logger("aggregate", first_log(smk))
    results = load_results(list(smk.params.runs), [str(p) for p in smk.input.evals])
    bases, merges = dict(smk.params.bases), dict(smk.params.merges)
    t1 = table1(results, bases, merges, list(smk.params.directions), smk.params.table1_merge)
    t2 = table2(results, bases, merges)
    write_table(t1, smk.output.table1_md, smk.output.table1_csv)
    write_table(t2, smk.output.table2_md, smk.output.table2_csv)
    logger.info("Table 1\n%s\nTable 2\n%s", t1.to_string(index=False), t2.to_string(index=False))
