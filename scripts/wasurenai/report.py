"""The report rules' entry points: Figure 2, the trade-off, retention, the budget
recommendation and the training loss curves (logic in figures.py and tradeoff.py)."""
from __future__ import annotations

from pathlib import Path

from .common import atomic_open, first_log, get_logger, read_csv


def plot_sweeps(smk) -> None:
    from .figures import figure2, save

    get_logger("plot_sweeps", first_log(smk))
    sweeps = read_csv(smk.input.sweeps, ("base", "sweep", "point", "AVG"))
    scores = read_csv(smk.input.scores, ("base_label", "kind", "AVG"))
    fig = figure2(sweeps, scores, dict(smk.params.sweeps), list(smk.params.directions))
    save(fig, smk.output.png, smk.output.svg)


def plot_tradeoff(smk) -> None:
    from .figures import save, tradeoff
    from .tradeoff import frontier_table, read_scores

    logger = get_logger("plot_tradeoff", first_log(smk))
    front = frontier_table(read_scores(smk.input.scores))
    with atomic_open(smk.output.csv) as fh:
        front.to_csv(fh, index=False)
    save(tradeoff(front), smk.output.png, smk.output.svg)
    logger.info("Pareto frontier:\n%s", front[front["pareto"]].to_string(index=False))


def plot_retention(smk) -> None:
    from .figures import retention, save
    from .tradeoff import read_scores, retention_table

    ret = retention_table(read_scores(smk.input.scores))
    with atomic_open(smk.output.csv) as fh:
        ret.round(1).to_csv(fh, index=False)
    save(retention(ret), smk.output.png, smk.output.svg)


def recommend(smk) -> None:
    from .tradeoff import read_scores, recommend as pick, write_recommendation

    logger = get_logger("recommend", first_log(smk))
    budget = dict(smk.params.budget)
    rec = pick(read_scores(smk.input.scores), float(budget["max_avg_drop"]), budget["maximise"],
               list(smk.params.directions), budget.get("bound", "point"))
    runner_up_intervals(rec, smk)
    write_recommendation(rec, smk.output.md, smk.output.json, smk.output.html)
    logger.info("%s", Path(smk.output.md).read_text(encoding="utf-8"))


def runner_up_intervals(rec: dict, smk) -> None:
    """Per base, the paired interval of the recommended merge's maximised score minus the
    runner-up's, from the two evaluation JSONs (``vs_runner_up``)."""
    from .aggregate import load_results
    from .stats import DEFAULTS, pair_interval
    from .testsets import languages

    paths = {(r["base"], r["model"]): p for r, p in zip(smk.params.runs, smk.input.evals)}
    cats = {c: [tuple(m) for m in ms] for c, ms in dict(smk.params.categories).items()}
    langs = {d: languages(d)[1] for d in smk.params.directions}
    settings = {**DEFAULTS, **dict(smk.params.intervals)}
    score = rec["budget"]["maximise"]
    for base, entry in rec["bases"].items():
        if len(entry["fitting"]) < 2:
            continue
        first, second = entry["fitting"][0], entry["fitting"][1]
        keys = [(base, first["model"]), (base, second["model"])]
        res = load_results([{"base": b, "model": m} for b, m in keys], [str(paths[k]) for k in keys])
        iv = pair_interval(res[keys[0]], res[keys[1]], score, cats, langs, **settings)
        entry["vs_runner_up"] = {"model": second["model"], "label": second["label"],
                                 "diff": iv.value, "interval": None if iv.lo is None else [iv.lo, iv.hi],
                                 "distinguishable": iv.excludes_zero}


def plot_training(smk) -> None:
    from .figures import save, training_loss

    get_logger("plot_training", first_log(smk))
    paths = [str(Path(d) / "train_log.csv") for d in smk.input.models]
    save(training_loss(list(smk.params.runs), paths), smk.output.png, smk.output.svg)
