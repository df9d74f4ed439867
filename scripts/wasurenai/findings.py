"""The paper's findings, checked on one run by paired bootstrap intervals (``findings.md``).

The study's pattern, per base: CPT on a direction raises that direction's BLEU, CPT lowers
AVG (forgetting), the Table 1 merge recovers AVG above each CPT model and beats the base
model's MT; and across bases, the later base (the paper's Instruct) has a higher AVG than
the first (its Base). Each finding is one paired difference (model a minus model b, both
scored on the same test samples, so the same resamples serve both, as in intervals.csv)
whose expected sign is the paper's. It *holds* when the interval lies on that side of 0,
*points the same way* when only the point estimate does, is *not seen* when not even that,
and is *reversed* when the interval lies on the other side. ``python -m wasurenai.findings
RUN_DIR ...`` sets several runs' ``findings.csv`` side by side (the demo's three synthetic
seeds: ``make demo-seeds``).
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import tables
from .common import WorkflowError, atomic_open
from .stats import DEFAULTS, Draws, difference, replicates

HOLDS, SAME_WAY, NOISE, REVERSED, UNMEASURED = ("holds", "same way, within noise",
                                                 "not seen, within noise", "reversed",
                                                 "not measured")
COLUMNS = ["finding", "base", "a", "b", "score", "sign", "diff", "lo", "hi", "verdict"]


@dataclass(frozen=True)
class Finding:
    text: str        # what the paper found, for this base and direction
    base: str        # the base of model a (and of model b unless base_b is set)
    a: str
    b: str
    score: str
    sign: int = 1    # the paper's direction of a - b
    base_b: str | None = None


def paper_findings(bases: dict, directions: list[str], merge: str, merge_label: str) -> list[Finding]:
    """The findings of Table 1 for every base (``bases``: base -> label, in config order)."""
    out = []
    for base, label in bases.items():
        for d in directions:
            out.append(Finding(f"{label}: CPT {d} beats the base model on {d} BLEU",
                               base, d, "base", f"{d} BLEU"))
        for d in directions:
            out.append(Finding(f"{label}: CPT {d} lowers AVG", base, d, "base", "AVG", -1))
        for d in directions:
            out.append(Finding(f"{label}: {merge_label} has a higher AVG than CPT {d}",
                               base, merge, d, "AVG"))
        out.append(Finding(f"{label}: {merge_label} beats the base model on MT",
                           base, merge, "base", "MT"))
    names = list(bases)
    for first, later in zip(names, names[1:]):
        out.append(Finding(f"{bases[later]}'s base model has a higher AVG than {bases[first]}'s",
                           later, "base", "base", "AVG", 1, first))
    return out


def verdict(sign: int, diff, lo, hi) -> str:
    if diff is None or not np.isfinite(diff):
        return UNMEASURED
    if lo is not None and np.isfinite(lo) and (lo > 0 or hi < 0):
        return HOLDS if (lo > 0) == (sign > 0) else REVERSED
    return SAME_WAY if diff * sign > 0 else NOISE


def check(results: dict, findings: list[Finding], categories: dict, directions: dict,
          settings: dict | None = None) -> pd.DataFrame:
    """One row per finding: the paired difference a - b, its interval and the verdict.
    ``results``: (base, model) -> evaluation JSON; ``categories``: category -> its (dataset,
    metric) members; ``directions``: direction -> target language (as in ``stats``)."""
    settings = {**DEFAULTS, **(settings or {})}
    draws = Draws(settings["resamples"], settings["seed"])
    reps: dict = {}

    def get(run):
        if run not in results:
            raise WorkflowError(f"findings: no evaluation of model {run[1]!r} for base {run[0]!r}")
        if run not in reps:
            reps[run] = replicates(results[run], categories, draws, directions)
        return results[run], reps[run]

    rows = []
    for f in findings:
        iv = difference(get((f.base, f.a)), get((f.base_b or f.base, f.b)), f.score, directions,
                        settings["confidence"])
        rows.append({"finding": f.text, "base": f.base, "a": f.a,
                     "b": f.b if f.base_b is None else f"{f.base_b}:{f.b}", "score": f.score,
                     "sign": f.sign, "diff": iv.value, "lo": iv.lo, "hi": iv.hi,
                     "verdict": verdict(f.sign, iv.value, iv.lo, iv.hi)})
    return pd.DataFrame(rows, columns=COLUMNS)


def _num(score: str, value) -> str:
    if value is None or not np.isfinite(value):
        return tables.NA
    return f"{value:+.1f}" if score.endswith("BLEU") else f"{value:+.3f}"


def cell(row) -> str:
    """"holds: +6.9 [+3.5, +10.5]"."""
    score = row["score"]
    if row["verdict"] == UNMEASURED:
        return UNMEASURED
    bounds = "" if pd.isna(row["lo"]) else f" [{_num(score, row['lo'])}, {_num(score, row['hi'])}]"
    return f"{row['verdict']}: {_num(score, row['diff'])}{bounds}"


def note(settings: dict | None) -> str:
    """The legend; ``settings`` None (several runs, each with its own): without the numbers."""
    draws = "the same draws as intervals.csv"
    what = f"bootstrap interval ({draws})" if settings is None else (
        f"{settings.get('confidence', DEFAULTS['confidence']):.0%} bootstrap interval "
        f"({settings.get('resamples', DEFAULTS['resamples'])} resamples, {draws})")
    return (f"Each finding is a paired difference with its {what}: "
            "*holds* when the interval lies on the paper's side of 0, *same way, within noise* "
            "when only the point estimate does, *not seen* when not even that, *reversed* when the "
            "interval lies on the other side.")


def write(df: pd.DataFrame, md_path, csv_path, settings: dict | None = None) -> None:
    with atomic_open(csv_path) as fh:
        df.to_csv(fh, index=False)
    shown = pd.DataFrame({"finding": df["finding"], "this run": [cell(r) for _, r in df.iterrows()]})
    held = int((df["verdict"] == HOLDS).sum())
    with atomic_open(md_path) as fh:
        fh.write(f"# The paper's findings in this run: {held} of {len(df)} hold\n\n")
        fh.write(tables.markdown(shown))
        fh.write(f"\n- {note(settings or {})}\n")


def read_run(run: str | Path) -> pd.DataFrame:
    path = Path(run)
    if path.is_dir():
        path = path / "results" / "tables" / "findings.csv" if (path / "results").is_dir() \
            else path / "tables" / "findings.csv"
    try:
        df = pd.read_csv(path)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise WorkflowError(f"{path}: not a readable findings.csv ({err})") from err
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise WorkflowError(f"{path}: not a findings.csv (no column {', '.join(missing)})")
    return df


def side_by_side(runs: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The findings of several runs (name -> findings.csv) as one table, a column per run
    and how many runs each finding holds in."""
    names = list(runs)
    order = list(dict.fromkeys(f for df in runs.values() for f in df["finding"]))
    out = pd.DataFrame({"finding": order})
    for name in names:
        cells = {r["finding"]: cell(r) for _, r in runs[name].iterrows()}
        out[name] = [cells.get(f, UNMEASURED) for f in order]
    held = {name: set(df.loc[df["verdict"] == HOLDS, "finding"]) for name, df in runs.items()}
    out["holds in"] = [f"{sum(f in held[n] for n in names)} of {len(names)}" for f in order]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m wasurenai.findings", description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", metavar="NAME=DIR",
                    help="a run's directory (its results/tables/findings.csv) or findings.csv, "
                         "optionally named: seed0=results")
    ap.add_argument("--out", help="write the Markdown here (default: stdout)")
    args = ap.parse_args(argv)
    try:
        runs = {}
        for arg in args.runs:
            name, named, where = arg.partition("=")
            runs[name] = read_run(where if named else name)
        table = side_by_side(runs)
    except WorkflowError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    text = (f"# The paper's findings in {len(runs)} runs\n\n" + tables.markdown(table)
            + f"\n- {note(None)}\n")
    if args.out:
        with atomic_open(args.out) as fh:
            fh.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
