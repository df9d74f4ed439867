"""What a user sees of a search (rule search_report): its table and two figures.

- ``search_<search>.md`` / ``.csv``: per base, each front point (the trial, its sampled
  values, its dev objectives and its test scores), and the test hypervolume of the search's
  front beside that of the grid (the named merges and sweep points), over the same reference
  point: on each objective, the worst of the base model and its CPT models (for AVG and MT:
  the CPT models' worse AVG and the base's MT). Where every model was also scored on the
  same dev samples as the trials (report.budget.select_on: dev with dev_max_samples equal to
  the search's max_samples), the same comparison on dev — the grid's points against the
  search's dev front — and the trial after which the search's front first matched the grid.
- ``search_<search>.png``: per base, every trial on dev (faint), the dev front, and the
  front's test scores beside the grid points, the base and the CPT models (test).
- ``search_<search>_hypervolume.png``: per base, the dev front's hypervolume after each
  trial: where it flattens, the budget was enough; the grid's dev hypervolume beside it
  where it was measured on the same samples.
"""
from __future__ import annotations

import pandas as pd

from .common import WorkflowError, atomic_open, get_logger, read_csv, read_json
from .figures import AVG_LABEL, MT_LABEL, plt, save
from .search import hypervolume, search_params, translation_objective
from .tables import DEV_PREFIX as DEV, fmt, markdown
from .tradeoff import MERGE_KINDS, read_scores


def score_column(objective: str) -> str:
    """The scores.csv column of an objective (a translation column is its own name)."""
    return objective if objective in ("AVG", "MT") or translation_objective(objective) else f"category:{objective}"


def reference_point(scores: pd.DataFrame, base: str, objectives: list[str]) -> list[float]:
    """On each objective, the worst of the base model and its CPT models (test)."""
    rows = scores[(scores["base"] == base) & scores["kind"].isin(["base", "cpt"])]
    return [float(rows[score_column(o)].min()) for o in objectives]


def grid_points(scores: pd.DataFrame, base: str, objectives: list[str]) -> list[list[float]]:
    rows = scores[(scores["base"] == base) & scores["kind"].isin(MERGE_KINDS)]
    return rows[[score_column(o) for o in objectives]].dropna().astype(float).values.tolist()


def front_rows(job, fronts: dict, trials: dict, scores: pd.DataFrame) -> pd.DataFrame:
    """One row per front point of every base: trial, sampled values, dev and test scores.
    ``fronts``: base -> front.json's points; ``trials``: base -> trials.csv; the test scores
    are the points' rows of scores.csv (rule aggregate: kind search)."""
    objectives, keys = job.spec["objectives"], [k for k, _, _ in search_params(job.spec)]
    tested = scores.set_index(["base", "model"])
    rows = []
    for base, points in fronts.items():
        by_number = trials[base].set_index("trial")
        for name, point in points.items():
            if (base, name) not in tested.index:
                raise WorkflowError(f"{job.scores_csv}: no row for front point {name} of base {base}")
            row = {"base": base, "model": name, "trial": point["trial"],
                   **{k: by_number.at[point["trial"], k] for k in keys}}
            row.update({f"dev {o}": point["dev"][o] for o in objectives})
            row.update({f"test {o}": tested.at[(base, name), score_column(o)]
                        for o in dict.fromkeys([*objectives, "AVG", "MT"])})
            rows.append(row)
    return pd.DataFrame(rows)




def dev_reference(scores: pd.DataFrame, base: str, objectives: list[str]) -> list[float] | None:
    """``reference_point`` on the dev split, or None where scores.csv has no dev scores."""
    cols = [DEV + score_column(o) for o in objectives]
    if not set(cols) <= set(scores.columns):
        return None
    rows = scores[(scores["base"] == base) & scores["kind"].isin(["base", "cpt"])]
    ref = [float(rows[c].min()) for c in cols]
    return ref if all(pd.notna(ref)) else None


def search_history(trials: pd.DataFrame, objectives: list[str], ref: list[float]) -> list[float]:
    """The hypervolume of the completed trials' front after each trial (dev objectives), over ``ref``."""
    cols = [f"objective {o}" for o in objectives]
    history, seen = [], []
    for _, row in trials.sort_values("trial").iterrows() if len(trials) else []:
        if row["state"] == "COMPLETE":
            seen.append([float(row[c]) for c in cols])
        history.append(hypervolume(seen, ref))
    return history


def dev_comparison(job, trials: pd.DataFrame, scores: pd.DataFrame, base: str) -> dict:
    """On dev (where comparable: ``job.dev_comparable``): the grid's hypervolume, the search
    front's, and the first trial count at which the search's front matched the grid's."""
    objectives = job.spec["objectives"]
    ref = dev_reference(scores, base, objectives) if job.dev_comparable else None
    if ref is None:
        return {}
    rows = scores[(scores["base"] == base) & scores["kind"].isin(MERGE_KINDS)]
    grid = rows[[DEV + score_column(o) for o in objectives]].dropna().astype(float).values.tolist()
    grid_hv, history = hypervolume(grid, ref), search_history(trials, objectives, ref)
    matched = next((i + 1 for i, v in enumerate(history) if v >= grid_hv - 1e-12), None)
    return {"hypervolume (search, dev)": history[-1] if history else 0.0,
            "hypervolume (grid, dev)": grid_hv, "trials to match the grid (dev)": matched,
            "history": history}


def hypervolumes(job, table: pd.DataFrame, trials: dict, scores: pd.DataFrame) -> pd.DataFrame:
    """Per base: test hypervolume of the search's front points and of the grid's points."""
    objectives, rows = job.spec["objectives"], []
    for base in job.fronts:
        ref = reference_point(scores, base, objectives)
        mine = table[table["base"] == base] if len(table) else table
        found = mine[[f"test {o}" for o in objectives]].dropna().astype(float).values.tolist() if len(mine) else []
        grid = grid_points(scores, base, objectives)
        dev = dev_comparison(job, trials[base], scores, base)
        dev.pop("history", None)
        rows.append({"base": base, "trials": len(trials[base]), "front points": len(found),
                     "hypervolume (search, test)": hypervolume(found, ref),
                     "grid points": len(grid), "hypervolume (grid, test)": hypervolume(grid, ref),
                     "reference": ", ".join(f"{o} {v:.3f}" for o, v in zip(objectives, ref)), **dev})
    return pd.DataFrame(rows)


def write_table(job, table: pd.DataFrame, volumes: pd.DataFrame) -> None:
    shown = table.copy()
    sampled = [k for k, _, _ in search_params(job.spec)]
    for col in shown.columns:
        if col.startswith(("dev ", "test ")):
            shown[col] = shown[col].map(fmt)
        elif col in sampled:
            shown[col] = shown[col].map(lambda v: f"{v:.3f}")
    vol = volumes.copy()
    for col in [c for c in vol.columns if c.startswith("hypervolume")]:
        vol[col] = vol[col].map(lambda v: f"{v:.5f}")
    if "trials to match the grid (dev)" in vol.columns:
        vol["trials to match the grid (dev)"] = vol["trials to match the grid (dev)"].map(
            lambda v: "not within the budget" if pd.isna(v) else str(int(v)))
    label = job.spec.get("label", job.search)
    text = (f"# Search {job.search} ({label}): {job.spec['method']}, objectives "
            f"{', '.join(job.spec['objectives'])}, {job.spec['trials']} trials on dev\n\n"
            "The dev Pareto front's points, merged and evaluated on the test split:\n\n"
            + (markdown(shown) if len(shown) else "(no trial completed)\n")
            + "\nTest hypervolume of the front beside the grid's (named merges and sweep points), "
            "over the reference point (each objective's worst among the base and its CPT models)"
            + ("; and on dev, where every model was scored on the trials' dev samples, with the trial "
               "after which the search's front first matched the grid" if "hypervolume (grid, dev)" in vol
               else "") + ":\n\n" + markdown(vol))
    with atomic_open(job.table_md) as fh:
        fh.write(text)
    with atomic_open(job.table_csv) as fh:
        table.to_csv(fh, index=False)


def figure(job, table: pd.DataFrame, trials: dict, scores: pd.DataFrame):
    bases = list(job.fronts)
    fig, axes = plt.subplots(1, len(bases), figsize=(4.6 * len(bases), 3.8), squeeze=False)
    for ax, base in zip(axes[0], bases):
        done = trials[base][trials[base]["state"] == "COMPLETE"] if len(trials[base]) else trials[base]
        if len(done) and {"dev MT", "dev AVG"} <= set(done.columns):
            ax.scatter(done["dev MT"], done["dev AVG"], s=12, c="0.7", label="trial (dev)")
            front = done[done["front"]].sort_values("dev MT")
            ax.plot(front["dev MT"], front["dev AVG"], "-o", c="tab:blue", ms=4, label="front (dev)")
        mine = table[table["base"] == base] if len(table) else table
        if len(mine):
            ax.scatter(mine["test MT"], mine["test AVG"], marker="s", s=30, c="tab:red",
                       label="front point (test)")
        rows = scores[scores["base"] == base]
        grid = rows[rows["kind"].isin(MERGE_KINDS)]
        ax.scatter(grid["MT"], grid["AVG"], marker="x", s=25, c="k", label="grid merge (test)")
        for kind_, marker in (("base", "*"), ("cpt", "^")):
            part = rows[rows["kind"] == kind_]
            ax.scatter(part["MT"], part["AVG"], marker=marker, s=60, c="tab:green",
                       label=f"{kind_} (test)")
        ax.set_title(str(rows["base_label"].iloc[0]) if len(rows) else base)
        ax.set_xlabel(MT_LABEL)
        ax.set_ylabel(AVG_LABEL)
    axes[0][-1].legend(fontsize=7, loc="best")
    fig.suptitle(f"Search {job.search}: trials, the dev front and its test scores")
    return fig


def hypervolume_history(trials: pd.DataFrame, objectives: list[str]) -> list[float]:
    """The hypervolume of the completed trials' front after each trial (dev objectives),
    over the worst value each objective took."""
    cols = [f"objective {o}" for o in objectives]
    done = trials[trials["state"] == "COMPLETE"] if len(trials) else trials
    if not len(done):
        return [0.0] * len(trials)
    return search_history(trials, objectives, [float(done[c].min()) - 1e-9 for c in cols])


def hypervolume_figure(job, trials: dict, scores: pd.DataFrame):
    """Per base, the dev front's hypervolume after each trial; where the grid was scored on
    the same dev samples, over the common reference with the grid's as a dashed line."""
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for base, table in trials.items():
        dev = dev_comparison(job, table, scores, base)
        history = dev.get("history") or hypervolume_history(table, job.spec["objectives"])
        line = ax.plot(range(1, len(history) + 1), history, "-o", ms=3, label=base)[0]
        if dev:
            ax.axhline(dev["hypervolume (grid, dev)"], ls="--", lw=1, color=line.get_color(),
                       label=f"{base}: grid (dev)")
    ax.set_xlabel("trials")
    ax.set_ylabel("hypervolume of the dev front")
    ax.set_title(f"Search {job.search}: is the budget enough?")
    ax.legend(fontsize=7)
    return fig


def main(job) -> None:
    log = get_logger("search_report", job.log).info
    scores = read_scores(job.scores_csv)
    fronts = {b: read_json(path)["points"] for b, path in job.fronts.items()}  # each file read once
    trials = {b: read_csv(path) for b, path in job.trials.items()}
    table = front_rows(job, fronts, trials, scores)
    volumes = hypervolumes(job, table, trials, scores)
    write_table(job, table, volumes)
    save(figure(job, table, trials, scores), job.figure, job.figure_svg)
    save(hypervolume_figure(job, trials, scores), job.hypervolume, job.hypervolume_svg)
    log(volumes.to_string(index=False))
