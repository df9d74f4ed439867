"""The report: marks, LaTeX, the reference comparison, the trade-off analyses and the figures."""
from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace as NS

import numpy as np
import pandas as pd
import pytest
import yaml
from matplotlib.image import imread

import helpers_report as H
from helpers import REPO
from wasurenai import report, tables
from wasurenai.aggregate import main as aggregate
from wasurenai.common import WorkflowError
from wasurenai.jobs import FigureJob, PlotSweepsJob, PlotTrainingJob
from wasurenai.reference import load_reference
from wasurenai.tradeoff import frontier_table, metric_column, pareto_front, read_scores, recommend, retention_table

PAPER_YAML = REPO / "configs" / "reference" / "paper.yaml"
PAPER_MD = REPO.parent / "shared" / "paper.md"


# --- marks and renderers ---------------------------------------------------------------------

def test_best_and_second_are_ranked_on_displayed_values_per_group():
    df = pd.DataFrame({"base": ["A", "A", "A", "A", "B"],
                       "x": ["0.500", "0.500", "0.400", "n/a", "0.100"],
                       "y": ["1.0 / 2.0", "3.0 / n/a", "2.0 / 1.0", "0.5 / 0.5", "n/a / n/a"]})
    mark = tables.marks(df, ["x", "y"])
    assert mark[(0, "x", 0)] == mark[(1, "x", 0)] == tables.BEST  # a tie: both bold
    assert mark[(2, "x", 0)] == tables.SECOND
    assert (3, "x", 0) not in mark  # n/a is never ranked
    assert mark[(4, "x", 0)] == tables.BEST and (4, "y", 0) not in mark  # group B alone
    assert mark[(1, "y", 0)] == tables.BEST and mark[(2, "y", 0)] == tables.SECOND
    assert mark[(0, "y", 1)] == tables.BEST and mark[(2, "y", 1)] == tables.SECOND
    across = tables.marks(df, ["x", "y"], across="columns")  # Table 2: along a row
    assert across[(0, "y", 0)] == tables.BEST and across[(0, "x", 0)] == tables.SECOND


def test_latex_escapes_and_signs():
    df = pd.DataFrame({"base": ["A_1", "A_1"], "source": ["ours", "Δ"], "s": ["0.5 & 1", "-0.012"]})
    tex = tables.latex(df, blank_repeats=1)
    assert r"A\_1 & ours & 0.5 \& 1 \\" in tex
    assert r" & $\Delta$ & $-$0.012 \\" in tex


# --- the reference ---------------------------------------------------------------------------

def _paper_md_tables() -> tuple[dict, dict]:
    """Tables 1 and 2 as ../shared/paper.md prints them."""
    text = PAPER_MD.read_text(encoding="utf-8")
    t1, t2 = {}, {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 10 and cells[0] in ("Base", "Instruct"):
            t1[(cells[0], cells[1])] = [float(c) for c in cells[2:]]
        if len(cells) == 6 and cells[0] in ("Base", "Instruct") and "/" in cells[1]:
            t2[cells[0]] = [[float(v) for v in c.split(" / ")] for c in cells[1:]]
    return t1, t2


@pytest.mark.skipif(not PAPER_MD.is_file(), reason="../shared/paper.md is not here")
def test_the_shipped_reference_is_the_papers_tables_exactly():
    ref = load_reference(PAPER_YAML)
    t1, t2 = _paper_md_tables()
    assert len(t1) == 8 and len(t2) == 2
    columns = ["AVG", "MT", *(f"{d} {m}" for d in ("ja-en", "en-ja") for m in ("BERTScore", "BLEU", "COMET"))]
    for (base, model), values in t1.items():
        assert [ref["table1"][base][model][c] for c in columns] == values, (base, model)
    for base, cells in t2.items():
        labels = ["base model", "Linear", "TIES", "DARE", "TIES-DARE"]
        assert [[ref["table2"][base][m]["AVG"], ref["table2"][base][m]["MT"]] for m in labels] == cells


@pytest.mark.parametrize("text, message", [
    ("table1:\n  Base:\n    base: {AVG: 0.4, ja-en BLUE: 1}\n", r"table1\.Base\.base: 'ja-en BLUE' is not a Table 1 column"),  # noqa: E501
    ("table1:\n  Base:\n    base: {AVG: high}\n", r"table1\.Base\.base\.AVG: 'high' is not a number"),
    ("table2:\n  Base:\n    Linear: {AVG: 0.4, BLEU: 3}\n", r"table2\.Base\.Linear: unknown score\(s\) \['BLEU'\]"),
    ("tables: {}\n", r"unknown key\(s\) \['tables'\]"),
    ("label: [1]\ntable2: {Base: {Linear: {AVG: 1}}}\n", "label: must be a string"),
    ("table1: [1, 2]\n", "table1: must be a non-empty mapping"),
    ("table1: {Base: {base: {AVG: 0.4}}\n", "not valid YAML"),
])
def test_bad_reference_fails_naming_the_file_and_key(tmp_path, text, message):
    path = tmp_path / "ref.yaml"
    path.write_text(text)
    with pytest.raises(WorkflowError, match=re.escape(str(path)) + ".*" + message):
        load_reference(path)


def test_reference_values_and_deltas_stand_beside_ours(tmp_path):
    res = H.results(sweeps=False)
    res[("llm-jp-3-3.7b-instruct", "ties")]["AVG"] = 0.401  # the paper: 0.395
    res[("llm-jp-3-3.7b", "ja-en")]["translation"]["ja-en"]["bleu"] = 15.04  # the paper: 16.8
    job = H.aggregate_job(tmp_path, res, reference=str(PAPER_YAML), sweeps=False)
    aggregate(job)
    t2 = Path(job.outputs["table2_ref_md"]).read_text()
    assert t2.splitlines()[:8] == [
        "| base     | source   | base model    | Linear        | TIES           | DARE          | TIES-DARE     |",
        "|----------|----------|---------------|---------------|----------------|---------------|---------------|",
        "| Base     | ours     | 0.395 / 0.824 | 0.388 / 0.830 | 0.375 / 0.819  | 0.377 / 0.827 | 0.380 / 0.824 |",
        "| Base     | paper    | 0.395 / 0.824 | 0.388 / 0.830 | 0.375 / 0.819  | 0.377 / 0.827 | 0.380 / 0.824 |",
        "| Base     | Δ        | 0.000 / 0.000 | 0.000 / 0.000 | 0.000 / 0.000  | 0.000 / 0.000 | 0.000 / 0.000 |",
        "| Instruct | ours     | 0.471 / 0.838 | 0.448 / 0.841 | 0.401 / 0.831  | 0.407 / 0.834 | 0.396 / 0.832 |",
        "| Instruct | paper    | 0.471 / 0.838 | 0.448 / 0.841 | 0.395 / 0.831  | 0.407 / 0.834 | 0.396 / 0.832 |",
        "| Instruct | Δ        | 0.000 / 0.000 | 0.000 / 0.000 | +0.006 / 0.000 | 0.000 / 0.000 | 0.000 / 0.000 |",
    ]
    assert "- Δ = ours - paper, on the displayed values" in t2
    t1 = pd.read_csv(job.outputs["table1_ref_csv"], dtype=str)
    row = t1[(t1["model"] == "ja-en") & (t1["base"] == "Base")]
    assert list(row["source"]) == ["ours", "paper", "Δ"]
    assert list(row["ja-en BLEU"]) == ["15.0", "16.8", "-1.80"]
    tex = Path(job.outputs["table1_ref_tex"]).read_text()
    assert r" &  & $\Delta$ & 0.000 & 0.000 & 0.000 & $-$1.80 &" in tex
    assert "<td class=\"txt\">paper</td>" in Path(job.outputs["table1_ref_html"]).read_text()


def test_rows_the_reference_lacks_read_na_with_a_note(tmp_path):
    ref = tmp_path / "ref.yaml"
    ref.write_text(yaml.safe_dump({"label": "theirs", "table1": {"Base": {"base": {"AVG": 0.3}}},
                                   "table2": {"Other": {"Linear": {"AVG": 0.1}}}}))
    job = H.aggregate_job(tmp_path, H.results(sweeps=False), reference=str(ref), sweeps=False)
    aggregate(job)
    t1 = Path(job.outputs["table1_ref_md"]).read_text()
    assert "| Base     | base            | theirs   | 0.300  | n/a   |" in t1
    assert "| Base     | base            | Δ        | +0.095 | n/a   |" in t1
    assert "- not in the reference (theirs): Base / ja-en, Base / en-ja," in t1
    t2 = Path(job.outputs["table2_ref_md"]).read_text()
    assert "- in the reference (theirs) but not in our table: Other" in t2


# --- trade-off, retention, budget ------------------------------------------------------------

def scores(tmp_path, sweeps=True) -> pd.DataFrame:
    job = H.aggregate_job(tmp_path, H.results(sweeps=sweeps), sweeps=sweeps)
    aggregate(job)
    return pd.read_csv(job.outputs["scores_csv"], dtype={"sweep": str}).fillna({"sweep": ""})


def test_pareto_front():
    df = pd.DataFrame({"MT": [0.8, 0.9, 0.7, 0.9, np.nan, 0.6],
                       "AVG": [0.5, 0.4, 0.6, 0.3, 0.9, 0.6]})
    assert list(pareto_front(df)) == [True, True, True, False, False, False]


def test_retention_is_percent_of_the_base_and_na_when_the_base_scores_zero(tmp_path):
    df = scores(tmp_path, sweeps=False)
    df.loc[(df["model"] == "base") & (df["base_label"] == "Base"), "category:NLI"] = 0.0
    ret = retention_table(df)
    row = ret[(ret["base_label"] == "Instruct") & (ret["model"] == "linear")].iloc[0]
    assert row["AVG"] == pytest.approx(100 * 0.448 / 0.471)
    assert row["MT"] == pytest.approx(100 * 0.841 / 0.838)
    assert ret[ret["base_label"] == "Base"]["NLI"].isna().all()
    assert "CG" not in ret.columns  # never measured
    assert list(ret[ret["base_label"] == "Base"]["model"]) == ["ja-en", "en-ja", "linear", "ties", "dare", "ties-dare"]


def test_recommendation_under_a_budget(tmp_path):
    df = scores(tmp_path, sweeps=False)
    rec = recommend(df, 0.01, "MT", H.DIRECTIONS)
    base = rec["bases"]["llm-jp-3-3.7b"]  # Linear loses 0.007 AVG and has the best MT
    assert base["recommended"]["model"] == "linear"
    assert base["recommended"]["avg_drop"] == pytest.approx(0.007)
    assert [p["model"] for p in base["fitting"]] == ["linear"]
    instruct = rec["bases"]["llm-jp-3-3.7b-instruct"]  # Linear loses 0.023: nothing fits
    assert instruct["recommended"] is None
    assert instruct["reason"] == ("no merge loses at most 0.01 AVG: the smallest loss is 0.023 "
                                  "(Linear, AVG 0.448 vs the base model's 0.471)")
    wide = recommend(df, 0.03, "ja-en BLEU", H.DIRECTIONS)["bases"]["llm-jp-3-3.7b-instruct"]
    assert wide["recommended"]["model"] == "linear" and wide["recommended"]["ja-en BLEU"] == 14.4
    avg = recommend(df, 0.0, "AVG", H.DIRECTIONS)["bases"]["llm-jp-3-3.7b"]
    assert avg["recommended"] is None  # every merge loses some AVG


def test_recommendation_files(tmp_path):
    df = scores(tmp_path)
    rec = recommend(df, 0.01, "MT", H.DIRECTIONS)
    from wasurenai.tradeoff import write_recommendation

    write_recommendation(rec, tmp_path / "r.md", tmp_path / "r.json", tmp_path / "r.html")
    md = (tmp_path / "r.md").read_text()
    assert md.startswith("# Recommended merge: lose at most 0.01 AVG, maximise MT\n")
    assert "| Base     | Linear share=0.6 (linear-sweep-share0.6) | 0.387 (-0.008) | 0.832 (+0.008) |" in md
    assert "a budget of 0.01 AVG is 1 point on a 0-100 scale" in md
    assert "<table>" in (tmp_path / "r.html").read_text()


def test_search_front_points_join_the_scores_and_the_recommendation(tmp_path):
    """A search's front points (per base, their own trial numbers) are rows of scores.csv
    and of the category table (kind search), candidates of the recommendation, and drawn in
    the trade-off figure; Tables 1 and 2 keep the configured models."""
    res = H.results(sweeps=False)
    fronts = {"llm-jp-3-3.7b": {"frontier-trial2": H.evaluation(0.392, 0.845)},
              "llm-jp-3-3.7b-instruct": {"frontier-trial5": H.evaluation(0.465, 0.80),
                                         "frontier-trial7": H.evaluation(0.40, 0.85)}}
    job = H.aggregate_job(tmp_path, res, sweeps=False, fronts=fronts)
    aggregate(job)
    df = pd.read_csv(job.outputs["scores_csv"], dtype={"sweep": str})
    points = df[df["kind"] == "search"]
    assert list(zip(points["base"], points["model"], points["search"])) == [
        ("llm-jp-3-3.7b", "frontier-trial2", "frontier"),
        ("llm-jp-3-3.7b-instruct", "frontier-trial5", "frontier"),
        ("llm-jp-3-3.7b-instruct", "frontier-trial7", "frontier")]
    assert list(points["MT"]) == [0.845, 0.80, 0.85] and points["label"].iloc[0] == "TIES search 2"
    cats = pd.read_csv(job.outputs["categories_csv"])
    assert "merged (TIES search 7)" in set(cats["model"])
    assert "TIES search 2" not in (tmp_path / "tables" / "table2.md").read_text()
    rec = recommend(read_scores(job.outputs["scores_csv"]), 0.01, "MT", H.DIRECTIONS)
    assert rec["bases"]["llm-jp-3-3.7b"]["recommended"]["model"] == "frontier-trial2"  # MT 0.845 > Linear's
    assert rec["bases"]["llm-jp-3-3.7b-instruct"]["recommended"]["model"] == "frontier-trial5"
    front = frontier_table(read_scores(job.outputs["scores_csv"]))
    assert bool(front.set_index("model").loc["frontier-trial2", "pareto"]) is True
    from wasurenai.figures import tradeoff

    fig = tradeoff(front)
    assert "search front point" in [t.get_text() for t in fig.legends[0].get_texts()]


def test_dev_scores_are_required_when_the_recommendation_chooses_on_dev(tmp_path):
    dev = {"dataset_dir": "d/evaluation/dev", "max_samples": 5}
    res = H.results(sweeps=False)
    for data in res.values():
        data["dev"] = {**dev, "AVG": data["AVG"] - 0.01, "MT": data["MT"], "categories": data["categories"]}
    job = H.aggregate_job(tmp_path, res, sweeps=False, dev=dev)
    aggregate(job)
    df = pd.read_csv(job.outputs["scores_csv"])
    row = df[(df["base_label"] == "Base") & (df["model"] == "linear")].iloc[0]
    assert row["dev AVG"] == pytest.approx(0.378) and row["dev category:NLI"] == row["category:NLI"]
    del res[("llm-jp-3-3.7b", "ties")]["dev"]
    stale = H.aggregate_job(tmp_path / "stale", res, sweeps=False, dev=dev)
    with pytest.raises(WorkflowError, match=r"llm-jp-3-3.7b/ties.json: no dev-split scores .* rerun its evaluation"):
        aggregate(stale)
    res[("llm-jp-3-3.7b", "ties")]["dev"] = {**dev, "max_samples": 3}  # scored with another setting
    with pytest.raises(WorkflowError, match="ties.json: no dev-split scores"):
        aggregate(H.aggregate_job(tmp_path / "other", res, sweeps=False, dev=dev))


def with_dev(df: pd.DataFrame, dev: dict) -> pd.DataFrame:
    """``df`` with dev-split columns: (base label, model) -> (dev AVG, dev MT); others NaN."""
    df = df.copy()
    df["dev AVG"], df["dev MT"] = np.nan, np.nan
    for (label, model), (avg, mt) in dev.items():
        row = (df["base_label"] == label) & (df["model"] == model)
        df.loc[row, ["dev AVG", "dev MT"]] = avg, mt
    return df


def test_recommendation_chooses_on_dev_and_reports_test(tmp_path):
    """On test Linear share=0.6 is the Base pick; on dev another sweep point wins: select_on
    dev picks that one and reports its test scores (and the dev ones it was chosen on)."""
    df = scores(tmp_path)
    on_test = recommend(df, 0.01, "MT", H.DIRECTIONS)["bases"]["llm-jp-3-3.7b"]["recommended"]
    assert on_test["model"] == "linear-sweep-share0.6"
    dev = {("Base", "base"): (0.40, 0.80), ("Base", "linear-sweep-share0.6"): (0.38, 0.85),
           ("Base", "linear-sweep-share0.8"): (0.395, 0.82)}
    dfd = with_dev(df, dev)
    rec = recommend(dfd, 0.01, "MT", H.DIRECTIONS, select_on="dev")
    pick = rec["bases"]["llm-jp-3-3.7b"]["recommended"]
    # share0.6 loses 0.02 dev AVG (out of budget); share0.8 fits on dev
    assert pick["model"] == "linear-sweep-share0.8"
    test_row = df[(df["base_label"] == "Base") & (df["model"] == "linear-sweep-share0.8")].iloc[0]
    assert pick["MT"] == pytest.approx(test_row["MT"]) and pick["AVG"] == pytest.approx(test_row["AVG"])
    assert pick["dev"] == {"AVG": 0.395, "MT": 0.82, "avg_drop": pytest.approx(0.005)}
    assert [p["model"] for p in rec["bases"]["llm-jp-3-3.7b"]["fitting"]] == ["linear-sweep-share0.8"]
    assert rec["selection"]["avg"] == "dev AVG" and rec["selection"]["why"] == "chosen on the dev split"
    # the Instruct rows have no dev scores: nothing is measured there, and it says so
    assert rec["bases"]["llm-jp-3-3.7b-instruct"]["reason"] == "the base model's dev AVG was not measured"
    # a translation column has no dev split: maximised on test, the budget still on dev AVG
    bleu = recommend(dfd, 0.01, "ja-en BLEU", H.DIRECTIONS, select_on="dev")
    assert bleu["selection"]["maximised"] == "ja-en BLEU" and bleu["selection"]["avg"] == "dev AVG"
    from wasurenai.tradeoff import write_recommendation

    write_recommendation(rec, tmp_path / "r.md", tmp_path / "r.json")
    md = (tmp_path / "r.md").read_text()
    assert "chosen on the dev split (the budget applied to dev AVG); the scores shown are the test split's" in md
    assert "0.395 (-0.005), 0.820" in md  # the dev scores it was chosen on
    # no dev columns: select_on dev falls back to test and says why
    fallback = recommend(df, 0.01, "MT", H.DIRECTIONS, select_on="dev")
    assert fallback["bases"]["llm-jp-3-3.7b"]["recommended"]["model"] == "linear-sweep-share0.6"
    assert fallback["selection"]["why"].startswith("chosen on the test split: no dev split was scored")
    with pytest.raises(WorkflowError, match="report.budget.bound: interval .* needs report.budget.select_on: test"):
        recommend(dfd.assign(**{"AVG diff lo": 0.0}), 0.01, "MT", H.DIRECTIONS, "interval", "dev")


def test_budget_metric_names():
    assert metric_column("MT", ["NLI"], H.DIRECTIONS) == "MT"
    assert metric_column("NLI", ["NLI"], H.DIRECTIONS) == "category:NLI"
    assert metric_column("en-ja COMET", ["NLI"], H.DIRECTIONS) == "en-ja COMET"
    with pytest.raises(WorkflowError, match="report.budget.maximise: 'BLEU' is not one of MT, AVG, NLI"):
        metric_column("BLEU", ["NLI"], H.DIRECTIONS)


# --- figures ---------------------------------------------------------------------------------

def assert_figure(png: Path, svg: Path, min_kb: float = 10) -> None:
    """Written, not empty: a real PNG with drawn pixels, an SVG with text in it."""
    assert png.stat().st_size > min_kb * 1024, png
    image = imread(png)
    assert image.shape[0] > 200 and image.shape[1] > 300
    assert (image[..., :3] < 0.5).mean() > 0.005  # some ink on the page
    text = svg.read_text()
    assert text.startswith("<?xml") and "<svg" in text


SWEEP_INFO = {"linear-sweep": {"label": "Linear", "method": "linear"},
              "ties-sweep": {"label": "TIES", "method": "ties"}}


def figure_job(tables_dir: Path, out: Path, name: str, **params):
    return NS(input=NS(sweeps=str(tables_dir / "sweeps.csv"), scores=str(tables_dir / "scores.csv")),
              output=NS(png=str(out / f"{name}.png"), svg=str(out / f"{name}.svg"),
                        csv=str(out / f"{name}.csv")),
              params=NS(**params), log=[])


@pytest.fixture(scope="module")
def paper_like_tables(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("report")
    aggregate(H.aggregate_job(tmp, H.results()))
    return tmp / "tables"


def test_figure2_tradeoff_and_retention_are_drawn(paper_like_tables, tmp_path):
    report.plot_sweeps(PlotSweepsJob.from_snakemake(
        figure_job(paper_like_tables, tmp_path, "figure2", sweeps=SWEEP_INFO, directions=H.DIRECTIONS)))
    assert_figure(tmp_path / "figure2.png", tmp_path / "figure2.svg", min_kb=50)
    svg = (tmp_path / "figure2.svg").read_text()
    for text in ("Instruct: TIES sweep", "Base: Linear sweep", "BLEU (0–100)", "AVG (left axis)",
                 "base share s (the base model's weight)", "base model (= base share 1)"):
        assert text in svg, text
    report.plot_tradeoff(FigureJob.from_snakemake(figure_job(paper_like_tables, tmp_path, "tradeoff")))
    assert_figure(tmp_path / "tradeoff.png", tmp_path / "tradeoff.svg", min_kb=50)
    front = pd.read_csv(tmp_path / "tradeoff.csv")
    on = front[front["pareto"] & (front["base_label"] == "Instruct")]
    assert "base" in set(on["model"]) and "ja-en" not in set(on["model"])
    report.plot_retention(FigureJob.from_snakemake(figure_job(paper_like_tables, tmp_path, "retention")))
    assert_figure(tmp_path / "retention.png", tmp_path / "retention.svg", min_kb=50)
    assert "% of the base model" in (tmp_path / "retention.svg").read_text()


def test_figure2_with_one_point_and_with_none(paper_like_tables, tmp_path):
    sweeps = pd.read_csv(paper_like_tables / "sweeps.csv")
    one = tmp_path / "one"
    one.mkdir()
    sweeps[sweeps["point"].isin(["linear-sweep-share0.5", "ties-sweep-share0.5-density0.5"])].to_csv(
        one / "sweeps.csv", index=False)
    (one / "scores.csv").write_text((paper_like_tables / "scores.csv").read_text())
    report.plot_sweeps(PlotSweepsJob.from_snakemake(
        figure_job(one, one, "figure2", sweeps=SWEEP_INFO, directions=H.DIRECTIONS)))
    assert_figure(one / "figure2.png", one / "figure2.svg")
    none = tmp_path / "none"
    none.mkdir()
    sweeps.iloc[:0].to_csv(none / "sweeps.csv", index=False)
    (none / "scores.csv").write_text((paper_like_tables / "scores.csv").read_text())
    report.plot_sweeps(PlotSweepsJob.from_snakemake(
        figure_job(none, none, "figure2", sweeps={}, directions=H.DIRECTIONS)))
    assert "No sweeps" in (none / "figure2.svg").read_text()


def write_log(path: Path, rows: int, extra: bool = True) -> Path:
    path.mkdir(parents=True)
    steps = np.arange(1, rows + 1)
    log = pd.DataFrame({"step": steps, "loss": 3 + 2 / steps, "lr": 1e-4, "tokens_per_s": 1000.0})
    if extra:
        log["mfu"] = ""  # a column added later, empty on the CPU: ignored
    log.to_csv(path / "train_log.csv", index=False)
    return path


def test_training_loss_curves(tmp_path):
    runs = [{"base": "tiny", "label": "Base", "run": d, "kind": "cpt"} for d in H.DIRECTIONS]
    runs += [{"base": "tiny", "label": "Base", "run": "pretrain", "kind": "demo"}]
    models = [write_log(tmp_path / r["run"], 40 if r["kind"] == "cpt" else 1) for r in runs]
    job = PlotTrainingJob.from_snakemake(NS(
        input=NS(models=[str(m) for m in models]), params=NS(runs=runs), log=[],
        output=NS(png=str(tmp_path / "loss.png"), svg=str(tmp_path / "loss.svg"))))
    report.plot_training(job)
    assert_figure(tmp_path / "loss.png", tmp_path / "loss.svg")
    svg = (tmp_path / "loss.svg").read_text()
    assert "Base: CPT" in svg and "demo base models" in svg and "optimizer step" in svg
    (models[0] / "train_log.csv").write_text("step,lr\n1,0.1\n")
    (tmp_path / "loss.png").unlink()
    with pytest.raises(WorkflowError, match=r"ja-en/train_log.csv: missing column\(s\) \['loss'\]"):
        report.plot_training(job)
    assert not (tmp_path / "loss.png").exists()
