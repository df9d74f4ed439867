"""Evaluation JSONs -> the paper's Table 1 and Table 2 (Markdown and CSV).

Table 1: per base, the base model, each CPT model and the Table-1 merge, with AVG and MT
(llm-jp-eval) and per direction BERTScore, BLEU and COMET. Table 2: per base, AVG / MT of the
base model and of every merge. A value that was not measured is "n/a", never 0.
"""
from __future__ import annotations

import math

import pandas as pd

from .common import atomic_open, first_log, get_logger, read_json

NA = "n/a"
METRIC_COLUMNS = (("BERTScore", "bert_score"), ("BLEU", "bleu"), ("COMET", "comet"))


def fmt(value, kind: str = "score") -> str:
    """Scores (0-1) with 3 decimals, BLEU (0-100) with 1; missing or non-finite -> n/a."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return NA
    return f"{value:.1f}" if kind == "bleu" else f"{value:.3f}"


def model_label(model: str, merges: dict[str, str]) -> str:
    return f"merged ({merges[model]})" if model in merges else model


def table1(results: dict, bases: dict, merges: dict, directions: list, table1_merge: str) -> pd.DataFrame:
    rows = []
    for base, label in bases.items():
        for model in ["base", *directions, table1_merge]:
            res = results[(base, model)]
            row = {"base": label, "model": model_label(model, merges),
                   "AVG": fmt(res.get("AVG")), "MT": fmt(res.get("MT"))}
            for direction in directions:
                scores = res.get("translation", {}).get(direction, {})
                for column, key in METRIC_COLUMNS:
                    row[f"{direction} {column}"] = fmt(scores.get(key), kind=key)
            rows.append(row)
    return pd.DataFrame(rows)


def table2(results: dict, bases: dict, merges: dict) -> pd.DataFrame:
    rows = []
    for base, label in bases.items():
        row = {"base": label}
        for model, column in [("base", "base model"), *merges.items()]:
            res = results[(base, model)]
            row[column] = f"{fmt(res.get('AVG'))} / {fmt(res.get('MT'))}"
        rows.append(row)
    return pd.DataFrame(rows)


def write_table(df: pd.DataFrame, md_path, csv_path) -> None:
    with atomic_open(csv_path) as fh:
        df.to_csv(fh, index=False)
    with atomic_open(md_path) as fh:
        fh.write(df.to_markdown(index=False, disable_numparse=True) + "\n")


def main(smk) -> None:
    logger = get_logger("aggregate", first_log(smk))
    results = {(run["base"], run["model"]): read_json(path)
               for run, path in zip(smk.params.runs, smk.input.evals)}
    bases, merges = dict(smk.params.bases), dict(smk.params.merges)
    t1 = table1(results, bases, merges, list(smk.params.directions), smk.params.table1_merge)
    t2 = table2(results, bases, merges)
    write_table(t1, smk.output.table1_md, smk.output.table1_csv)
    write_table(t2, smk.output.table2_md, smk.output.table2_csv)
    logger.info("Table 1\n%s\nTable 2\n%s", t1.to_string(index=False), t2.to_string(index=False))
