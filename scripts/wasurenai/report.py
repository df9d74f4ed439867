"""The report rules' entry points: Figure 2, the trade-off, retention, the budget
recommendation and the training loss curves (logic in figures.py and tradeoff.py)."""
from __future__ import annotations

from pathlib import Path

from .common import atomic_open, get_logger, read_csv
from .jobs import FigureJob, PlotSweepsJob, PlotTrainingJob, RecommendJob


def plot_sweeps(job: PlotSweepsJob) -> None:
    from .figures import figure2, save

    get_logger("plot_sweeps", job.log)
    sweeps = read_csv(job.sweeps_csv, ("base", "sweep", "point", "AVG"))
    scores = read_csv(job.scores, ("base_label", "kind", "AVG"))
    fig = figure2(sweeps, scores, job.sweeps, job.directions)
    save(fig, job.png, job.svg)


def plot_tradeoff(job: FigureJob) -> None:
    from .figures import save, tradeoff
    from .tradeoff import frontier_table, read_scores

    logger = get_logger("plot_tradeoff", job.log)
    front = frontier_table(read_scores(job.scores))
    with atomic_open(job.csv) as fh:
        front.to_csv(fh, index=False)
    save(tradeoff(front), job.png, job.svg)
    logger.info("Pareto frontier:\n%s", front[front["pareto"]].to_string(index=False))


def plot_retention(job: FigureJob) -> None:
    from .figures import retention, save
    from .tradeoff import read_scores, retention_table

    ret = retention_table(read_scores(job.scores))
    with atomic_open(job.csv) as fh:
        ret.round(1).to_csv(fh, index=False)
    save(retention(ret), job.png, job.svg)


def recommend(job: RecommendJob) -> None:
    from .tradeoff import read_scores, recommend as pick, write_recommendation

    logger = get_logger("recommend", job.log)
    budget = job.budget
    rec = pick(read_scores(job.scores), float(budget["max_avg_drop"]), budget["maximise"],
               job.directions, budget.get("bound", "point"), budget.get("select_on", "dev"))
    runner_up_intervals(rec, job)
    write_recommendation(rec, job.md, job.json, job.html)
    logger.info("%s", Path(job.md).read_text(encoding="utf-8"))


def runner_up_intervals(rec: dict, job: RecommendJob) -> None:
    """Per base, the paired interval of the recommended merge's maximised score minus the
    runner-up's, from the two evaluation JSONs (``vs_runner_up``)."""
    from .aggregate import load_results
    from .stats import DEFAULTS, pair_interval
    from .testsets import languages

    cats = {c: [tuple(m) for m in ms] for c, ms in job.categories.items()}
    langs = {d: languages(d)[1] for d in job.directions}
    settings = {**DEFAULTS, **job.intervals}
    score = rec["budget"]["maximise"]
    for base, entry in rec["bases"].items():
        if len(entry["fitting"]) < 2:
            continue
        first, second = entry["fitting"][0], entry["fitting"][1]
        keys = [(base, first["model"]), (base, second["model"])]
        res = load_results({key: job.evals[key] for key in keys})
        iv = pair_interval(res[keys[0]], res[keys[1]], score, cats, langs, **settings)
        entry["vs_runner_up"] = {"model": second["model"], "label": second["label"],
                                 "diff": iv.value, "interval": None if iv.lo is None else [iv.lo, iv.hi],
                                 "distinguishable": iv.excludes_zero}


def plot_training(job: PlotTrainingJob) -> None:
    from .figures import save, training_loss

    get_logger("plot_training", job.log)
    paths = [str(Path(d) / "train_log.csv") for d in job.models]
    save(training_loss(job.runs, paths), job.png, job.svg)
