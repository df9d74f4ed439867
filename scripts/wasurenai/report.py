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
               list(smk.params.directions))
    write_recommendation(rec, smk.output.md, smk.output.json, smk.output.html)
    logger.info("%s", Path(smk.output.md).read_text(encoding="utf-8"))


def plot_training(smk) -> None:
    from .figures import save, training_loss

    get_logger("plot_training", first_log(smk))
    paths = [str(Path(d) / "train_log.csv") for d in smk.input.models]
    save(training_loss(list(smk.params.runs), paths), smk.output.png, smk.output.svg)
