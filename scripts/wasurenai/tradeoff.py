"""Beyond the paper: the AVG-MT trade-off, per-category retention, a merge under a budget.

All three read ``scores.csv`` (``aggregate.scores_table``: every score of every model,
unrounded). Scores are on llm-jp-eval's 0-1 scale; "one point" of AVG is 0.01.

- Pareto frontier: the models no other model of the same base beats on both AVG and MT
  (at least as good on both and better on one).
- Retention: each CPT model's and merge's category score as a percentage of its base
  model's (100 % = nothing forgotten); n/a where either is not measured or the base
  scores 0.
- Budget: among the merges (named merges and sweep points) of a base whose AVG is at most
  ``max_avg_drop`` below the base model's, the one with the highest ``maximise`` score.
"""
from __future__ import annotations

import pandas as pd

from .common import WorkflowError, atomic_open, read_csv, write_json
from .tables import DEV_PREFIX as DEV, METRICS, finite, fmt, fmt_signed, kind

MERGE_KINDS = ("merge", "sweep")


def _finite(value) -> bool:
    return finite(value) is not None


def read_scores(path) -> pd.DataFrame:
    """scores.csv; a missing column fails naming the file and the column."""
    df = read_csv(path, ("base", "base_label", "model", "label", "kind", "AVG", "MT"),
                  dtype={"sweep": str})
    df["sweep"] = df["sweep"].fillna("") if "sweep" in df else ""
    return df


def pareto_front(df: pd.DataFrame, x: str = "MT", y: str = "AVG") -> pd.Series:
    """True for the rows not dominated on (x, y), both maximised; rows with a missing x or
    y are never on the front."""
    ok = df[x].map(_finite) & df[y].map(_finite)
    front = pd.Series(False, index=df.index)
    for i in df.index[ok]:
        xi, yi = df.at[i, x], df.at[i, y]
        dominated = False
        for j in df.index[ok]:
            xj, yj = df.at[j, x], df.at[j, y]
            if xj >= xi and yj >= yi and (xj > xi or yj > yi):
                dominated = True
                break
        front[i] = not dominated
    return front


def frontier_table(scores: pd.DataFrame) -> pd.DataFrame:
    """Every model with its AVG, MT and whether it is on its base's Pareto frontier."""
    bounds = [c for c in ("AVG lo", "AVG hi", "MT lo", "MT hi") if c in scores.columns]
    out = scores[["base", "base_label", "model", "label", "kind", "AVG", "MT", *bounds]].copy()
    out["pareto"] = False
    for _, rows in scores.groupby("base", sort=False):
        out.loc[rows.index, "pareto"] = pareto_front(rows)
    return out


def category_columns(scores: pd.DataFrame) -> list[str]:
    """The categories that have a score for at least one base model."""
    cols = [c for c in scores.columns if c.startswith("category:")]
    bases = scores[scores["kind"] == "base"]
    return [c for c in cols if bases[c].map(_finite).any()]


def retention_table(scores: pd.DataFrame) -> pd.DataFrame:
    """Per base, every CPT model and merge: each category and AVG as % of the base model's."""
    columns = [*category_columns(scores), "AVG"]
    rows = []
    for base, group in scores.groupby("base", sort=False):
        ref = group[group["kind"] == "base"]
        if ref.empty:
            raise WorkflowError(f"scores: no base model row for base {base!r}")
        ref = ref.iloc[0]
        for _, row in group[group["kind"] != "base"].iterrows():
            out = {"base": base, "base_label": row["base_label"], "model": row["model"],
                   "label": row["label"], "kind": row["kind"]}
            for column in columns:
                a, b = row[column], ref[column]
                ok = _finite(a) and _finite(b) and b > 0
                out[column.removeprefix("category:")] = 100.0 * a / b if ok else None
            rows.append(out)
    return pd.DataFrame(rows)


def metric_column(name: str, categories: list[str], directions: list[str]) -> str:
    """The scores.csv column a budget's ``maximise`` names: MT, AVG, a category, or
    "<direction> <BERTScore|BLEU|COMET>"; anything else fails naming the key."""
    if name in ("MT", "AVG"):
        return name
    if name in categories:
        return f"category:{name}"
    direction, _, metric = name.partition(" ")
    if direction in directions and metric in METRICS:
        return name
    options = ["MT", "AVG", *(c for c in categories if c not in ("MT", "AVG")),
               *(f"{d} {m}" for d in directions for m in METRICS)]
    raise WorkflowError(f"config key report.budget.maximise: {name!r} is not one of "
                        f"{', '.join(options)}")


BOUNDS = ("point", "interval")
SPLITS = ("dev", "test")
CANDIDATE_KINDS = (*MERGE_KINDS, "search")  # what the recommendation chooses among


def selection_columns(scores: pd.DataFrame, column: str, select_on: str) -> tuple[str, str, str]:
    """(AVG column, maximised column, why) the choice is made on: the dev split's where
    ``select_on`` is dev and scores.csv has dev scores (a translation column has none: it is
    maximised on test), else the test split's."""
    if select_on not in SPLITS:
        raise WorkflowError(f"config key report.budget.select_on: {select_on!r}, not one of {SPLITS}")
    if select_on == "test":
        return "AVG", column, "chosen on the test split (report.budget.select_on: test)"
    if f"{DEV}AVG" not in scores.columns or not scores[f"{DEV}AVG"].map(_finite).any():
        return "AVG", column, ("chosen on the test split: no dev split was scored (none beside "
                               "evaluation.dataset_dir)")
    if f"{DEV}{column}" in scores.columns:
        return f"{DEV}AVG", f"{DEV}{column}", "chosen on the dev split"
    return f"{DEV}AVG", column, f"chosen on the dev split's AVG; {column} has no dev split, so it is maximised on test"


def recommend(scores: pd.DataFrame, max_avg_drop: float, maximise: str,
              directions: list[str], bound: str = "point", select_on: str = "test") -> dict:
    """Per base: the merge (a named merge, sweep point or search front point) with the
    highest ``maximise`` score among those whose AVG is at most ``max_avg_drop`` (0-1 scale)
    below the base model's; ties go to the higher AVG, then to the first listed. When none
    fits, the reason and the closest merge.

    ``select_on="dev"`` compares the candidates on their dev-split scores ("dev ..."
    columns) where scores.csv has them and reports their test scores: a choice made on the
    test split is fitted to the very samples that measure it, so its test score overstates
    what a user gets. ``bound="interval"`` applies the budget to the interval's bound instead
    of the point estimate: a merge fits only if the lower bound of its paired AVG difference
    to the base model ("AVG diff lo" in scores.csv, the test split's) loses at most
    ``max_avg_drop``."""
    if bound not in BOUNDS:
        raise WorkflowError(f"config key report.budget.bound: {bound!r}, not one of {BOUNDS}")
    if bound == "interval" and "AVG diff lo" not in scores.columns:
        raise WorkflowError("config key report.budget.bound: interval needs the AVG intervals "
                            "in scores.csv (written by the aggregate rule)")
    categories = [c.removeprefix("category:") for c in scores.columns if c.startswith("category:")]
    column = metric_column(maximise, categories, directions)
    avg_col, sel_col, why = selection_columns(scores, column, select_on)
    if bound == "interval" and avg_col != "AVG":
        raise WorkflowError("config key report.budget.bound: interval applies the budget to the "
                            "test split's intervals; it needs report.budget.select_on: test")
    out = {"budget": {"max_avg_drop": max_avg_drop, "maximise": maximise, "bound": bound,
                      "select_on": select_on,
                      "unit": "AVG on llm-jp-eval's 0-1 scale: 0.01 = one point"},
           "selection": {"avg": avg_col, "maximised": sel_col, "why": why}, "bases": {}}
    for base, group in scores.groupby("base", sort=False):
        out["bases"][base] = _recommend_base(group, max_avg_drop, maximise, column, avg_col, sel_col, bound)
    return out


def _recommend_base(group: pd.DataFrame, max_avg_drop: float, maximise: str, column: str,
                    avg_col: str, sel_col: str, bound: str) -> dict:
    """``recommend`` for one base's rows: the budget on ``avg_col``, ``sel_col`` maximised."""
    ref = group[group["kind"] == "base"].iloc[0]
    merges = group[group["kind"].isin(CANDIDATE_KINDS)]
    entry = {"base_label": ref["base_label"], "base_model": {"AVG": finite(ref["AVG"]),
                                                               maximise: finite(ref[column])},
             "recommended": None, "fitting": [], "reason": ""}
    if avg_col != "AVG":
        entry["base_model"]["dev"] = {"AVG": finite(ref[avg_col]), maximise: finite(ref[sel_col])}
    if merges.empty:
        entry["reason"] = "no merges are configured"
        return entry
    if not _finite(ref[avg_col]):
        entry["reason"] = f"the base model's {avg_col} was not measured"
        return entry
    measured = merges[merges[avg_col].map(_finite) & merges[sel_col].map(_finite)]
    if measured.empty:
        entry["reason"] = f"no merge has both {avg_col} and {sel_col} measured"
        return entry
    drop = ref[avg_col] - measured[avg_col]
    if bound == "interval":  # the worst loss the interval allows
        drop = (-measured["AVG diff lo"]).where(measured["AVG diff lo"].map(_finite), float("inf"))
    fits = measured[drop <= max_avg_drop + 1e-12].copy()
    if fits.empty:
        closest = measured.loc[drop.idxmin()]
        entry["reason"] = (
            f"no merge loses at most {max_avg_drop:g} {avg_col}: the smallest loss is "
            f"{ref[avg_col] - closest[avg_col]:.3f} ({closest['label']}, {avg_col} "
            f"{closest[avg_col]:.3f} vs the base model's {ref[avg_col]:.3f})")
        return entry
    fits["_order"] = range(len(fits))
    fits = fits.sort_values([sel_col, avg_col, "_order"], ascending=[False, False, True])
    entry["fitting"] = [_pick(row, ref, column, maximise, avg_col, sel_col) for _, row in fits.iterrows()]
    entry["recommended"] = entry["fitting"][0]
    return entry


def _bounds(row, name: str) -> list[float] | None:
    lo, hi = row.get(f"{name} lo"), row.get(f"{name} hi")
    return [float(lo), float(hi)] if _finite(lo) and _finite(hi) else None


def _pick(row, ref, column, maximise, avg_col="AVG", sel_col=None) -> dict:
    """A candidate as the recommendation reports it: its test scores and their changes
    against the base model (and, when chosen on dev, the dev scores it was chosen on)."""
    gain = _bounds(row, f"{column} diff")
    pick = {"model": row["model"], "label": row["label"], "AVG": finite(row["AVG"]),
            "avg_drop": finite(ref["AVG"] - row["AVG"]), maximise: finite(row[column]),
            "gain_over_base": finite(row[column] - ref[column]),
            "avg_change_interval": _bounds(row, "AVG diff"), "gain_interval": gain,
            "distinguishable_from_base": None if gain is None else bool(gain[0] > 0 or gain[1] < 0)}
    if avg_col != "AVG":
        pick["dev"] = {"AVG": float(row[avg_col]), maximise: float(row[sel_col]),
                       "avg_drop": float(ref[avg_col] - row[avg_col])}
    return pick


def recommendation_frame(rec: dict) -> tuple[pd.DataFrame, str, list[str]]:
    """The recommendation as a table, its title and notes (for Markdown and HTML)."""
    budget = rec["budget"]
    metric, drop = budget["maximise"], budget["max_avg_drop"]
    title = f"Recommended merge: lose at most {drop:g} AVG, maximise {metric}"
    notes = [
        f"AVG and the scores are on llm-jp-eval's 0-1 scale (BLEU 0-100): a budget of "
        f"{drop:g} AVG is {100 * drop:g} point{'' if 100 * drop == 1 else 's'} on a 0-100 scale.",
        f"{_selection_note(rec)}",
        "Candidates: every named merge, sweep point and search front point of the base; changes "
        "are against the base model; the budget is checked on unrounded AVG"
        + (" (on the lower bound of its paired interval: report.budget.bound = interval)"
           if budget.get("bound") == "interval" else "") + ". Ties in the maximised score go "
        "to the higher AVG.",
        "Distinguishable: whether the paired bootstrap interval of the difference (in "
        "brackets) excludes 0; a choice not distinguishable from the runner-up is a tie "
        "within sampling noise.",
    ]
    rows, beaten = [], []
    for entry in rec["bases"].values():
        pick = entry["recommended"]
        base_avg, base_metric = entry["base_model"]["AVG"], entry["base_model"][metric]
        row = {"base": entry["base_label"], "base model AVG": fmt(base_avg),
               f"base model {metric}": fmt(base_metric, kind(metric))}
        if pick is None:
            row.update({"recommended merge": f"none: {entry['reason']}", "AVG (change)": "",
                        f"{metric} (change)": "", "also within budget": "", "distinguishable": ""})
        else:
            others = ", ".join(p["label"] for p in entry["fitting"][1:4])
            more = len(entry["fitting"]) - 4
            others += f", and {more} more" if more > 0 else ""
            gain = pick["gain_over_base"]
            row.update({"recommended merge": f"{pick['label']} ({pick['model']})",
                        "AVG (change)": f"{fmt(pick['AVG'])} ({fmt_signed(_neg(pick['avg_drop']))})",
                        f"{metric} (change)": f"{fmt(pick[metric], kind(metric))} ({fmt_signed(gain, kind(metric))})",
                        "also within budget": others or "-",
                        "distinguishable": _distinguishable(entry, metric)})
            if "dev" in pick:
                dev = pick["dev"]
                row["dev AVG (change), " + metric] = (f"{fmt(dev['AVG'])} ({fmt_signed(-dev['avg_drop'])}), "
                                                      f"{fmt(dev[metric], kind(metric))}")
            if gain is not None and gain <= 0:
                beaten.append(entry["base_label"])
        rows.append(row)
    if beaten:
        notes.append(f"{', '.join(beaten)}: no merge within the budget beats the base model's "
                     f"{metric}; the base model itself is the better choice there.")
    columns = ["base", "recommended merge", "AVG (change)", f"{metric} (change)", "base model AVG",
               f"base model {metric}", "also within budget", "distinguishable"]
    if any("dev" in (e["recommended"] or {}) for e in rec["bases"].values()):
        columns.insert(4, "dev AVG (change), " + metric)
    return pd.DataFrame(rows, columns=columns).fillna(""), title, notes


def _neg(value):
    return None if value is None else -value


def _selection_note(rec: dict) -> str:
    sel = rec.get("selection") or {"avg": "AVG", "why": "chosen on the test split"}
    if sel["avg"] == "AVG":
        return (f"The merge was {sel['why']}: the scores shown are the ones that chose it, "
                "so they are optimistic about what a user gets.")
    return (f"The merge was {sel['why']} (the budget applied to dev AVG); the scores shown are "
            "the test split's, which the choice has not seen: choosing on test would fit the "
            "choice to the samples that measure it and overstate what a user gets.")


def _distinguishable(entry: dict, metric: str) -> str:
    """'from the base model: yes (+0.034 [0.012, 0.051]); from TIES: no (...)'."""
    pick, k = entry["recommended"], kind(metric)

    def say(diff, iv, yes) -> str:
        if iv is None:
            return "n/a (no interval)"
        return (f"{'yes' if yes else 'no'} ({fmt_signed(diff, k)} "
                f"[{fmt_signed(iv[0], k)}, {fmt_signed(iv[1], k)}])")
    vs_base = say(pick['gain_over_base'], pick['gain_interval'], pick['distinguishable_from_base'])
    parts = [f"from the base model: {vs_base}"]
    runner = entry.get("vs_runner_up")
    if runner:
        parts.append(f"from the runner-up {runner['label']}: "
                     f"{say(runner['diff'], runner['interval'], runner['distinguishable'])}")
    return "; ".join(parts)


def write_recommendation(rec: dict, md_path, json_path, html_path=None) -> None:
    from .tables import html_table, markdown

    df, title, notes = recommendation_frame(rec)
    write_json(json_path, rec)
    with atomic_open(md_path) as fh:
        fh.write(f"# {title}\n\n" + markdown(df) + "\n" + "".join(f"- {n}\n" for n in notes))
    if html_path:
        with atomic_open(html_path) as fh:
            fh.write(html_table(df, title=title, notes=notes))
