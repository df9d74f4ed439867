"""The whole DAG, for real, on the smoke overlay of the embedded default."""
from __future__ import annotations

import json
import math
import re

import pandas as pd
import pytest

from helpers import REPO, job_counts, snakemake

pytestmark = pytest.mark.e2e

CONFIGS = ["--configfile", str(REPO / "config.yaml"), str(REPO / "configs" / "smoke.yaml")]


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("smoke")
    snakemake(workdir, "--cores", "2", *CONFIGS)
    return workdir


def test_table1_has_every_row_and_finite_numbers(smoke_run):
    table = pd.read_csv(smoke_run / "results" / "tables" / "table1.csv")
    rows = set(zip(table["base"], table["model"]))
    for label in ("Base", "Instruct"):
        for model in ("base", "ja-en", "en-ja", "merged (Linear)"):
            assert (label, model) in rows
    assert list(table.columns)[2:] == [
        "AVG", "MT", *(f"{d} {m}" for d in ("ja-en", "en-ja") for m in ("BERTScore", "BLEU", "COMET"))
    ]
    for column in table.columns[2:]:  # every column measured, COMET by the demo checkpoint
        values = pd.to_numeric(table[column], errors="raise")
        assert values.map(math.isfinite).all(), column


def test_category_table_covers_every_model(smoke_run):
    table = pd.read_csv(smoke_run / "results" / "tables" / "categories.csv")
    assert list(table.columns) == ["base", "model", "NLI", "QA", "RC", "MC", "EL", "FA", "MR",
                                   "MT", "HE", "CG", "AVG"]
    assert len(table) == 2 * 11  # 2 bases x (base, ja-en, en-ja, 5 merges, 2 sweep points, 1 front point)
    for column in table.columns[2:]:
        assert pd.to_numeric(table[column], errors="raise").map(math.isfinite).all(), column


def test_sweep_table_lists_every_point(smoke_run):
    table = pd.read_csv(smoke_run / "results" / "tables" / "sweeps.csv")
    assert sorted(set(table["point"])) == ["linear-sweep-share0.5", "ties-sweep-share0.5-density0.4"]
    assert len(table) == 4 and table["AVG"].map(math.isfinite).all()
    assert list(table.loc[table["sweep"] == "ties-sweep", "axis:density"]) == [0.4, 0.4]


def test_table2_has_every_merge(smoke_run):
    table = pd.read_csv(smoke_run / "results" / "tables" / "table2.csv")
    assert list(table["base"]) == ["Base", "Instruct"]
    for column in ("base model", "Linear", "TIES", "DARE", "TIES-DARE"):
        assert column in table.columns
    for cell in table[["Linear", "TIES", "DARE", "TIES-DARE"]].to_numpy().ravel():
        avg, mt = (float(x) for x in str(cell).split(" / "))
        assert math.isfinite(avg) and math.isfinite(mt)
    md = (smoke_run / "results" / "tables" / "table2.md").read_text()
    assert "TIES-DARE" in md and "Instruct" in md


def test_report_tables_figures_and_recommendation(smoke_run):
    tables, figures = smoke_run / "results" / "tables", smoke_run / "results" / "figures"
    for name in ("table1", "table2"):
        tex = (tables / f"{name}.tex").read_text()
        assert "\\begin{tabular}" in tex and "\\textbf{" in tex and "Instruct" in tex
        assert "<b>" in (tables / f"{name}.html").read_text()
    for name in ("figure2", "tradeoff", "retention", "training_loss"):
        assert (figures / f"{name}.png").stat().st_size > 20_000, name
        assert "<svg" in (figures / f"{name}.svg").read_text(), name
    rec = json.loads((tables / "recommendation.json").read_text())
    assert set(rec["bases"]) == {"tiny", "tiny-instruct"}
    assert rec["budget"] == {"max_avg_drop": 0.01, "maximise": "MT", "bound": "point", "select_on": "dev",
                             "unit": "AVG on llm-jp-eval's 0-1 scale: 0.01 = one point"}
    assert rec["selection"]["avg"] == "dev AVG"  # chosen on the generated dev split, test scores shown
    for entry in rec["bases"].values():  # the choice, and whether noise could explain it
        if entry["recommended"]:
            assert isinstance(entry["recommended"]["distinguishable_from_base"], bool)
    for name in ("table1_pm", "table2_pm"):
        assert " ± " in (tables / f"{name}.md").read_text()
    front = pd.read_csv(tables / "pareto.csv")
    assert len(front) == 22 and front.groupby("base")["pareto"].any().all()  # 10 models + 1 front point each


def test_the_search_ran_on_dev_and_its_front_was_evaluated_on_test(smoke_run):
    results = smoke_run / "results"
    for base in BASE_NAMES:
        trials = pd.read_csv(results / "search" / base / "frontier" / "trials.csv")
        assert len(trials) == 3 and (trials["state"] == "COMPLETE").all() and trials["front"].any()
        front = json.loads((results / "search" / base / "frontier" / "front.json").read_text())
        assert len(front["points"]) == 1  # front_points: 1
        for name, point in front["points"].items():
            test = json.loads((results / "eval" / base / f"{name}.json").read_text())
            assert test["model_path"].endswith(f"search/{base}/frontier/trial{point['trial']}")
            assert all(d["path"].split("/")[-2] == "test" for d in test["datasets"].values())
            assert (results / "models" / "search" / base / "frontier" / f"trial{point['trial']}").is_dir()
    table = (results / "tables" / "search_frontier.md").read_text()
    assert "hypervolume" in table and "frontier-trial" in table
    scores = pd.read_csv(results / "tables" / "scores.csv")  # the front points join every model
    points = scores[scores["kind"] == "search"]
    assert len(points) == 2 and set(points["search"]) == {"frontier"} and points["AVG"].notna().all()
    assert scores["dev AVG"].notna().all()  # every model's dev split, for the recommendation
    for name in ("search_frontier", "search_frontier_hypervolume"):
        assert (results / "figures" / f"{name}.png").stat().st_size > 10_000, name


def test_intervals_for_every_model_and_score(smoke_run):
    """Paired bootstrap intervals from the per-sample scores every evaluation JSON keeps."""
    table = pd.read_csv(smoke_run / "results" / "tables" / "intervals.csv")
    assert len(set(zip(table["base"], table["model"]))) == 2 * 11  # with the search's front point
    avg = table[table["score"] == "AVG"]
    assert len(avg) == 22 and (avg["lo"] <= avg["value"] + 1e-12).all()
    assert (avg["value"] <= avg["hi"] + 1e-12).all()
    others = table[(table["model"] != "base") & (table["score"] == "ja-en BLEU")]
    assert others["diff_lo"].notna().all() and (others["diff_lo"] <= others["diff_hi"]).all()
    res = json.loads((smoke_run / "results" / "eval" / "tiny" / "linear.json").read_text())
    assert all("samples" in ds for ds in res["datasets"].values())
    found = pd.read_csv(smoke_run / "results" / "tables" / "findings.csv")  # the paper's pattern
    assert len(found) == 2 * 7 + 1 and set(found["verdict"]) <= {
        "holds", "same way, within noise", "not seen, within noise", "reversed", "not measured"}
    linear = table[(table["model"] == "linear") & (table["score"] == "MT")].set_index("base")
    mt = found[found["finding"] == "Base: Linear beats the base model on MT"].iloc[0]
    assert (mt["lo"], mt["hi"]) == pytest.approx((linear.loc["tiny", "diff_lo"], linear.loc["tiny", "diff_hi"]))


def test_snakemake_report_renders(smoke_run):
    """`snakemake --report` after the run: one HTML with the tables, figures and captions."""
    snakemake(smoke_run, *CONFIGS, "--report", "report.html")
    html = (smoke_run / "report.html").read_text()
    for caption in ("the paper&#x27;s layout", "Pareto frontier", "Retention per category",
                    "Training loss curves", "base-share sweeps", "under a budget"):
        assert caption in html or caption.replace("&#x27;", "'") in html, caption
    for name in ("figure2.png", "tradeoff.png", "retention.png", "training_loss.png", "table1.html"):
        assert name in html, name


def test_corpus_report_counts_drops(smoke_run):
    report = json.loads((smoke_run / "results" / "corpus" / "ja-en.report.json").read_text())
    assert report["sampled"] == 300
    assert sum(report["dropped"].values()) > 0


def test_the_demo_bases_learn_no_translation_prompts(smoke_run):
    """The bases' pretraining and instruct texts hold the general tasks' prompts but none of
    the MT sets' (CPT is what teaches translation in the miniature)."""
    results = smoke_run / "results"
    train = results / "data" / "synthetic" / "llm_jp_eval" / "evaluation" / "train"
    instruction = {name: json.loads((train / f"{name}.json").read_text())["instruction"]
                   for name in ("synth_mt_j_to_e", "synth_mt_e_to_j", "synth_nli")}
    for mix in ("demo-pretrain", "demo-instruct"):
        texts = [json.loads(line)["text"] for line in (results / "corpus" / f"{mix}.jsonl").open()]
        assert any(instruction["synth_nli"] in t for t in texts), mix
        for name in ("synth_mt_j_to_e", "synth_mt_e_to_j"):
            assert not any(instruction[name] in t for t in texts), (mix, name)


def test_merge_writes_its_mergekit_config(smoke_run):
    merged = smoke_run / "results" / "models" / "merged" / "tiny" / "ties"
    assert (merged / "mergekit_config.yml").is_file()
    assert any(merged.glob("*.safetensors"))


def test_batched_generation_on_the_demo_model_is_one_prompt_at_a_time(smoke_run):
    """fp32, the demo's own model and prompts, one dataset at a time as the evaluation
    generates them (batches from one prefill of the shared instruction and few-shots): a
    batch gives llm-jp-eval's one-by-one predictions, except where the greedy path has a
    near-tie (top-2 logits within 1e-5)."""
    from helpers_eval import min_top2_gap
    from wasurenai import evaluation as E

    model, tok = E.load_model(smoke_run / "results" / "models" / "base" / "tiny-instruct", "cpu")
    split = smoke_run / "results" / "data" / "synthetic" / "llm_jp_eval" / "evaluation" / "test"
    tasks = [E.load_task(split, name, 1, 4)[1]
             for name in ("synth_nli", "synth_code", "synth_mt_j_to_e", "synth_arithmetic")]
    prompts = [p for task in tasks for p in task]
    batched = [out for task in tasks for out in E.generate(model, tok, task, 12, batch_size=3)]
    single = [E.generate(model, tok, [p], 12, batch_size=1)[0] for p in prompts]
    differ = [i for i, (b, s) in enumerate(zip(batched, single)) if b != s]
    assert all(min_top2_gap(model, tok, prompts[i], 12) < 1e-5 for i in differ), differ


def test_second_run_has_nothing_to_do(smoke_run):
    proc = snakemake(smoke_run, "-n", "--cores", "1", *CONFIGS)
    assert job_counts(proc.stdout) == {}
    assert "Nothing to be done" in proc.stdout + proc.stderr


# --- rerun only what changed: the job list of a dry run after the real run ------------------

def planned(workdir, *args) -> set[str]:
    """Outputs of the jobs a dry run would run (first output of each job), relative paths."""
    proc = snakemake(workdir, "-n", "--cores", "1", *CONFIGS, *args)
    return set(re.findall(r"^\s+output: ([^,\s]+)", proc.stdout, flags=re.M))


def overlay(tmp_path, text: str) -> str:
    path = tmp_path / "overlay.yaml"
    path.write_text(text)
    return str(path)


TABLES = "results/tables/table1.md"
REPORT = {TABLES, "results/figures/figure2.png", "results/figures/tradeoff.png",
          "results/figures/retention.png", "results/tables/recommendation.md",
          "results/tables/search_frontier.md"}  # all downstream of the tables
BASE_NAMES = ("tiny", "tiny-instruct")


def merge_and_eval(merge: str) -> set[str]:
    return {p for b in BASE_NAMES
            for p in (f"results/models/merged/{b}/{merge}", f"results/eval/{b}/{merge}.json")}


def test_changing_one_merge_reruns_that_merge_its_evaluation_and_the_tables(smoke_run, tmp_path):
    extra = overlay(tmp_path, "merges:\n  ties:\n    density: 0.7\n")
    assert planned(smoke_run, extra) == merge_and_eval("ties") | REPORT


def test_adding_a_merge_runs_only_that_merge(smoke_run, tmp_path):
    extra = overlay(tmp_path, "merges:\n  new-point:\n    label: New\n    method: linear\n"
                              "    weights: {base: 0.8, ja-en: 0.1, en-ja: 0.1}\n")
    assert planned(smoke_run, extra) == merge_and_eval("new-point") | REPORT


def test_retraining_one_cpt_model_reruns_exactly_the_merges_that_include_it(smoke_run):
    cpt = "results/models/cpt/tiny/ja-en"
    got = planned(smoke_run, "--forcerun", cpt)
    merges = {"linear", "ties", "dare", "ties-dare",  # every merge but enja-only uses ja-en
              "linear-sweep-share0.5", "ties-sweep-share0.5-density0.4"}
    expected = {cpt, "results/eval/tiny/ja-en.json", *REPORT, "results/figures/training_loss.png"}
    expected |= {f"results/models/merged/tiny/{m}" for m in merges}
    expected |= {f"results/eval/tiny/{m}.json" for m in merges}
    # the search reads ja-en too: its worker and front rerun (a new study: the models changed);
    # the front's merges and evaluations follow once the checkpoint has run
    expected |= {"results/search/tiny/frontier/worker0.json", "results/search/tiny/frontier/trials.csv"}
    assert got == expected


def test_in_memory_sweep_writes_the_same_evaluation(smoke_run, tmp_path):
    """Last: it rewrites the linear-sweep evaluations of the smoke run, through sweep mode."""
    targets = [f"results/eval/{b}/linear-sweep-share0.5.json" for b in BASE_NAMES]
    evals = [smoke_run / t for t in targets]
    before = [json.loads(p.read_text()) for p in evals]
    extra = overlay(tmp_path, "sweeps:\n  linear-sweep:\n    in_memory: true\n")
    proc = snakemake(smoke_run, "--cores", "2", *CONFIGS, extra, "--forcerun", "sweep_linear-sweep",
                     "--", *targets)
    assert "sweep_linear-sweep" in proc.stdout + proc.stderr
    for old, path in zip(before, evals):
        new = json.loads(path.read_text())
        assert "in memory" in new["model_path"]
        for key in ("model_path", "timings"):
            old.pop(key), new.pop(key)
        old["dev"].pop("timings"), new["dev"].pop("timings")
        assert new == old
