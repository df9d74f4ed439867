"""Paired bootstrap intervals: against sacrebleu's own bootstrap, pairing, AVG, seeds."""
from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
from sacrebleu.metrics import BLEU
from sacrebleu.significance import _bootstrap_resample
from snakemake.io import Namedlist

from wasurenai import metrics as M
from wasurenai import stats as S
from wasurenai.common import WorkflowError
from wasurenai.jobs import AggregateJob, RecommendJob

CATEGORIES = {"MR": [("arith", None)], "QA": [("qa", "char_f1"), ("qa2", None)],
              "STS": [("sts", "pearson")], "CG": [("code", "code_exec")]}
DIRECTIONS = {"ja-en": "en"}
HYPS = ["the cat sat on a mat", "a dog ran", "", "I read books", "he is tall", "it rains"]
REFS = ["the cat sat on the mat", "the dog ran home", "I read a book", "I read a book",
        "he is tall", "it is raining"]


def evaluation(em, f1, f1b, sts_pred, hyps=HYPS, code_zeroed=True):
    """An evaluation JSON as evaluation.py writes it, from per-sample values."""
    sts = {"reference": [1.0, 2.0, 3.0, 4.0, 5.0], "prediction": list(map(float, sts_pred))}
    datasets = {
        "arith": {"n": len(em), "main_metric": "exact_match", "samples": {"exact_match": em}},
        "qa": {"n": len(f1), "main_metric": "char_f1", "samples": {"char_f1": f1}},
        "qa2": {"n": len(f1b), "main_metric": "char_f1", "samples": {"char_f1": f1b}},
        "sts": {"n": 5, "main_metric": "pearson", "samples": {"pearson": sts}},
    }
    for ds in datasets.values():
        ds["metrics"] = {m: M.reduce_samples(m, v) for m, v in ds["samples"].items()}
    cats = {"MR": datasets["arith"]["metrics"]["exact_match"],
            "QA": (datasets["qa"]["metrics"]["char_f1"] + datasets["qa2"]["metrics"]["char_f1"]) / 2,
            "STS": datasets["sts"]["metrics"]["pearson"], "CG": 0.0}
    stats = M.corpus_bleu_stats(hyps, REFS, "en")
    bert = [0.5 + 0.05 * i for i in range(len(hyps))]
    return {
        "datasets": datasets, "categories": cats,
        "category_reasons": {"CG": "scored 0.0 as llm-jp-eval does (no member has a score)"},
        "AVG": sum(cats.values()) / 4, "MT": None,
        "translation": {"ja-en": {"dataset": "alt", "n": len(hyps),
                                  "bleu": M.corpus_bleu(hyps, REFS, "en"),
                                  "bert_score": float(np.mean(bert)), "comet": None,
                                  "samples": {"bleu_stats": stats, "bert_score": bert}}},
    }


BASE = evaluation([1, 0, 1, 0, 1, 1, 0, 0], [0.5, 0.2, 0.9, 0.1], [1.0, 0.0, 0.5], [1, 2, 2, 4, 6])
BETTER = evaluation([1, 1, 1, 0, 1, 1, 1, 0], [0.6, 0.3, 1.0, 0.2], [1.0, 0.1, 0.6], [1, 2, 3, 4, 5],
                    hyps=REFS)


def rows_of(results, models=("base", "merge"), **kw):
    rows = S.base_intervals(results, CATEGORIES, DIRECTIONS, "b", list(models), **kw)
    return {(r["model"], r["score"]): r for r in rows}


def test_corpus_bleu_replicates_are_sacrebleus_own_bootstrap():
    stats = M.corpus_bleu_stats(HYPS, REFS, "en")
    _, theirs = _bootstrap_resample(stats, BLEU(tokenize="13a"), 200)  # seed 12345, rng.choice
    idx = np.random.default_rng(12345).choice(len(stats), size=(200, len(stats)), replace=True)
    assert S.bleu_replicates(stats, "en", idx) == pytest.approx([s.score for s in theirs])
    whole = S.bleu_replicates(stats, "en", np.arange(len(stats))[None])
    assert whole[0] == pytest.approx(M.corpus_bleu(HYPS, REFS, "en"))


def test_interval_brackets_the_value_and_the_base_has_no_difference():
    rows = rows_of({("b", "base"): BASE, ("b", "merge"): BETTER})
    for score in ("MR", "QA", "STS", "AVG", "ja-en BLEU", "ja-en BERTScore"):
        r = rows[("base", score)]
        assert r["lo"] <= r["value"] <= r["hi"] and r["lo"] < r["hi"], score
        assert "diff" not in r
    assert rows[("base", "CG")]["lo"] == rows[("base", "CG")]["hi"] == 0.0  # zeroed: constant
    assert rows[("base", "ja-en COMET")]["lo"] is None  # not measured: no interval


def test_differences_are_paired():
    """A model that is the base plus 0.1 on every sample: the paired difference is exactly
    0.1 in every replicate, although each model's own interval is wide."""
    shifted = evaluation([1, 0, 1, 0, 1, 1, 0, 0], [0.6, 0.3, 1.0, 0.2], [1.0, 0.0, 0.5],
                         [1, 2, 2, 4, 6])
    rows = rows_of({("b", "base"): BASE, ("b", "merge"): shifted})
    qa = rows[("merge", "QA")]
    assert qa["diff"] == pytest.approx(0.05)  # qa +0.1, qa2 unchanged: the category +0.05
    assert qa["diff_lo"] == pytest.approx(0.05) and qa["diff_hi"] == pytest.approx(0.05)
    assert qa["excludes_zero"] and qa["hi"] - qa["lo"] > 0.1
    assert rows[("merge", "MR")]["diff_lo"] == rows[("merge", "MR")]["diff_hi"] == 0.0
    assert not rows[("merge", "MR")]["excludes_zero"]
    avg = rows[("merge", "AVG")]
    assert avg["diff_lo"] == pytest.approx(0.05 / 4) and avg["diff_hi"] == pytest.approx(0.05 / 4)


def test_avg_resamples_every_dataset_at_once():
    draws = S.Draws(300, 0)
    reps = S.replicates(BASE, CATEGORIES, draws, DIRECTIONS)
    assert reps["AVG"] == pytest.approx((reps["MR"] + reps["QA"] + reps["STS"] + reps["CG"]) / 4)
    # the same draw for a dataset wherever it is used, and for every model
    again = S.replicates(BETTER, CATEGORIES, draws, DIRECTIONS)
    idx = draws("arith", 8)
    assert again["MR"] == pytest.approx(np.asarray([1, 1, 1, 0, 1, 1, 1, 0.0])[idx].mean(1))


def test_seeded_and_independent_of_the_other_models():
    results = {("b", "base"): BASE, ("b", "merge"): BETTER, ("b", "other"): BASE}
    one = rows_of(results, seed=3)
    assert one == rows_of(results, seed=3)
    assert one[("merge", "AVG")]["lo"] != rows_of(results, seed=4)[("merge", "AVG")]["lo"]
    three = rows_of(results, models=("base", "merge", "other"), seed=3)
    assert three[("merge", "AVG")] == one[("merge", "AVG")]
    assert three[("other", "AVG")]["diff_lo"] == three[("other", "AVG")]["diff_hi"] == 0.0


def test_correlation_metrics_are_recomputed_per_replicate():
    idx = np.array([[0, 1, 2, 3, 4], [0, 0, 0, 0, 0]])
    pairs = BASE["datasets"]["sts"]["samples"]["pearson"]
    reps = S.metric_replicates("pearson", pairs, idx)
    assert reps[0] == pytest.approx(M.correlation("pearson", pairs["reference"], pairs["prediction"]))
    assert reps[1] == 0.0  # constant input: NaN -> 0, as llm-jp-eval


def test_bad_input():
    old = {"datasets": {"arith": {"n": 2, "metrics": {"exact_match": 0.5}}},
           "translation": {"ja-en": {"n": 2, "bleu": 1.0}}}
    with pytest.raises(WorkflowError, match=r"eval/b/m.json: no per-sample scores for arith, "
                                            r"translation.ja-en .*rerun its evaluation"):
        S.check_samples(old, "eval/b/m.json")
    S.check_samples(BASE, "x.json")
    with pytest.raises(WorkflowError, match="resamples"):
        S.Draws(0, 0)
    with pytest.raises(WorkflowError, match="confidence"):
        rows_of({("b", "base"): BASE, ("b", "merge"): BETTER}, confidence=1.5)


def test_aggregate_writes_every_interval_and_refuses_old_evaluations(tmp_path):
    import json

    from wasurenai.aggregate import intervals_table, load_results

    results = {("b", "base"): BASE, ("b", "merge"): BETTER}
    cats = {c: [list(m) for m in ms] for c, ms in CATEGORIES.items()}
    table = intervals_table(results, {"b": "Base"}, ["base", "merge"], cats, ["ja-en"],
                            {"resamples": 200})
    assert list(table.columns) == ["base", "model", "score", "value", "lo", "hi", "diff",
                                   "diff_lo", "diff_hi", "excludes_zero"]
    merge = table[table["model"] == "merge"].set_index("score")
    assert set(merge.index) >= {"AVG", "MR", "QA", "STS", "CG", "ja-en BLEU", "ja-en BERTScore"}
    assert merge.loc["ja-en BLEU", "diff"] == pytest.approx(BETTER["translation"]["ja-en"]["bleu"]
                                                          - BASE["translation"]["ja-en"]["bleu"])
    assert merge.loc["ja-en BLEU", "excludes_zero"]  # the references themselves vs HYPS
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"AVG": 0.3, "MT": 0.4,
                                "datasets": {"jnli": {"n": 5, "metrics": {"exact_match": 0.4}}}}))
    with pytest.raises(WorkflowError, match=rf"{path}: no per-sample scores for jnli"):
        load_results({("b", "base"): str(path)})


class Outputs(SimpleNamespace):
    def __getitem__(self, key):
        return getattr(self, key)


AGG_OUT = ["table1_md", "table1_csv", "table2_md", "table2_csv", "categories_md",
           "categories_csv", "sweeps_csv", "scores_csv", "intervals_csv", "table1_pm_md",
           "table1_pm_csv", "table2_pm_md", "table2_pm_csv", "findings_md", "findings_csv"]
PARAMS = dict(bases={"b": "Base"}, merges={"linear": "Linear", "ties": "TIES"}, directions=["ja-en", "en-ja"],
              categories={c: [list(m) for m in ms] for c, ms in CATEGORIES.items()},
              intervals={"resamples": 300, "confidence": 0.95, "seed": 0})


def run_aggregate(tmp_path, results):
    """aggregate.main as the rule runs it; returns {output name: path} and the job."""
    from wasurenai.aggregate import main

    runs, evals = [], []
    for (base, model), res in results.items():
        path = tmp_path / "eval" / f"{model}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(res))
        runs.append({"base": base, "model": model})
        evals.append(str(path))
    out = {n: str(tmp_path / "t" / n.replace("_md", ".md").replace("_csv", ".csv")) for n in AGG_OUT}
    smk = SimpleNamespace(input=Namedlist(fromdict={"evals": evals}), output=Namedlist(fromdict=out),
                          log=[str(tmp_path / "a.log")],
                          params=Namedlist(fromdict={"runs": runs, "table1_merge": "linear", **PARAMS}))
    main(AggregateJob.from_snakemake(smk))
    return out, smk


def four_models():
    same = json.loads(json.dumps(BASE))
    return {("b", "base"): BASE, ("b", "ja-en"): BETTER, ("b", "en-ja"): same,
            ("b", "linear"): BETTER, ("b", "ties"): same}


def test_tables_star_real_differences_and_give_the_interval(tmp_path):
    """aggregate.main on evaluations with per-sample scores: Table 1 and 2 mark with * the
    cells whose difference to the base model excludes 0; the ± tables and their CSVs."""
    import pandas as pd

    out, _ = run_aggregate(tmp_path, four_models())
    t1 = pd.read_csv(out["table1_csv"])  # plain numbers
    assert pd.to_numeric(t1["ja-en BLEU"]).notna().all()
    md = open(out["table1_md"]).read()
    bleu_ja_en = {row["model"]: row["ja-en BLEU"] for row in t1.to_dict("records")}
    assert f"{bleu_ja_en['ja-en']:.3g}*" in md.replace("**", "")  # BETTER: the references
    assert "*: the difference to the base model's score excludes 0 (95% paired" in md
    rows = {r["model"]: r for r in pd.read_csv(out["intervals_csv"]).to_dict("records")
            if r["score"] == "ja-en BLEU"}
    assert rows["ja-en"]["excludes_zero"] and not rows["en-ja"]["excludes_zero"]
    pm = pd.read_csv(out["table1_pm_csv"])
    assert {"AVG", "AVG lo", "AVG hi"} <= set(pm.columns)
    assert (pm["AVG lo"] <= pm["AVG"]).all() and (pm["AVG"] <= pm["AVG hi"]).all()
    assert " ± " in open(out["table1_pm_md"]).read()
    t2 = open(out["table2_md"]).read()
    assert "Linear" in t2 and "*" in t2.replace("**", "")
    assert {"Linear AVG", "Linear AVG lo", "Linear MT hi"} <= set(pd.read_csv(out["table2_pm_csv"]).columns)


def test_recommendation_says_whether_its_choice_is_distinguishable(tmp_path):
    """Budget on AVG, maximise ja-en BLEU: Linear (BETTER) beats the base model clearly and
    the runner-up TIES (the base model's own scores) too; with bound: interval a merge must
    be confidently within the budget."""
    from wasurenai.report import recommend

    out, agg = run_aggregate(tmp_path, four_models())

    def job(bound):
        rec = {n: str(tmp_path / f"rec-{bound}.{n}") for n in ("md", "json", "html")}
        smk = SimpleNamespace(
            input=Namedlist(fromdict={"scores": out["scores_csv"], "evals": agg.input.evals}),
            output=Namedlist(fromdict=rec), log=[str(tmp_path / "r.log")],
            params=Namedlist(fromdict={"budget": {"max_avg_drop": 0.0, "maximise": "ja-en BLEU",
                                                  "bound": bound},
                                       "runs": agg.params.runs, **PARAMS}))
        recommend(RecommendJob.from_snakemake(smk))
        return json.loads(open(rec["json"]).read()), open(rec["md"]).read()

    rec, md = job("point")
    entry = rec["bases"]["b"]
    assert entry["recommended"]["model"] == "linear"
    assert entry["recommended"]["distinguishable_from_base"] is True
    lo, hi = entry["recommended"]["gain_interval"]
    assert 0 < lo <= entry["recommended"]["gain_over_base"] <= hi
    runner = entry["vs_runner_up"]
    assert runner["model"] == "ties" and runner["distinguishable"] is True
    assert runner["interval"][0] > 0
    assert "from the base model: yes (+" in md and "from the runner-up TIES: yes" in md
    strict, _ = job("interval")  # TIES has AVG diff [0, 0]: fits; Linear's lower bound is > 0
    assert strict["budget"]["bound"] == "interval"
    assert [p["model"] for p in strict["bases"]["b"]["fitting"]] == ["linear", "ties"]


def test_scores_csv_gives_mt_its_interval_as_a_score_and_as_a_category(tmp_path, monkeypatch):
    """MT is a top-level score and a category ("category:MT"): both columns get its bounds."""
    import pandas as pd

    results = json.loads(json.dumps({f"{b}|{m}": r for (b, m), r in four_models().items()}))
    results = {tuple(k.split("|")): r for k, r in results.items()}
    for res in results.values():  # QA plays MT here
        res["categories"]["MT"] = res["MT"] = res["categories"].pop("QA")
    cats = {("MT" if c == "QA" else c): m for c, m in PARAMS["categories"].items()}
    monkeypatch.setitem(PARAMS, "categories", cats)
    out, _ = run_aggregate(tmp_path, results)
    scores = pd.read_csv(out["scores_csv"])
    for column in ("MT", "category:MT"):
        assert scores[f"{column} lo"].notna().all() and scores[f"{column} diff hi"].notna().any()
    assert (scores["MT lo"] == scores["category:MT lo"]).all()


def test_findings_check_the_papers_pattern_with_the_tables_intervals(tmp_path):
    """findings.csv: each of the paper's findings as a paired difference with the verdict
    its interval gives; a finding against a base model has exactly intervals.csv's bounds."""
    import pandas as pd

    models = four_models()  # ja-en = BETTER (the references as its translations), en-ja = BASE
    out, _ = run_aggregate(tmp_path, models)
    found = pd.read_csv(out["findings_csv"]).set_index("finding")
    bleu = found.loc["Base: CPT ja-en beats the base model on ja-en BLEU"]
    assert bleu["verdict"] == "holds" and bleu["lo"] > 0
    iv = pd.read_csv(out["intervals_csv"]).set_index(["model", "score"]).loc[("ja-en", "ja-en BLEU")]
    assert (bleu["diff"], bleu["lo"], bleu["hi"]) == pytest.approx(
        (iv["diff"], iv["diff_lo"], iv["diff_hi"]))
    # BETTER raises AVG: the paper's "CPT lowers AVG" is reversed; en-ja is the base itself
    assert found.loc["Base: CPT ja-en lowers AVG", "verdict"] == "reversed"
    assert found.loc["Base: CPT en-ja lowers AVG", "verdict"] == "not seen, within noise"
    assert found.loc["Base: Linear has a higher AVG than CPT en-ja", "verdict"] == "holds"
    assert found.loc["Base: Linear has a higher AVG than CPT ja-en", "diff"] == 0
    assert found.loc["Base: CPT en-ja beats the base model on en-ja BLEU", "verdict"] == "not measured"
    md = open(out["findings_md"]).read()
    assert md.startswith(f"# The paper's findings in this run: {(found['verdict'] == 'holds').sum()} of 7 hold")
    assert "holds: +" in md


def test_findings_across_bases_and_side_by_side_over_runs(tmp_path, capsys):
    """The later base's AVG against the first's (paired: the same samples); several runs'
    findings.csv in one table, with how many runs each finding holds in."""
    from wasurenai import findings as F

    results = {("b", "base"): BASE, ("c", "base"): BETTER}
    df = F.check(results, F.paper_findings({"b": "Base", "c": "Instruct"}, [], "m", "M")[-1:],
                 CATEGORIES, DIRECTIONS, {"resamples": 200})
    assert list(df["finding"]) == ["Instruct's base model has a higher AVG than Base's"]
    assert df.loc[0, "diff"] == pytest.approx(BETTER["AVG"] - BASE["AVG"])
    assert df.loc[0, "b"] == "b:base"
    one, two = tmp_path / "one.csv", tmp_path / "two" / "results" / "tables" / "findings.csv"
    two.parent.mkdir(parents=True)
    df.to_csv(one, index=False)
    df.assign(verdict="same way, within noise").to_csv(two, index=False)
    assert F.main(["seed 0=" + str(one), "seed 1=" + str(tmp_path / "two")]) == 0
    text = capsys.readouterr().out
    assert "| seed 0" in text and "| seed 1" in text and "1 of 2" in text
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    assert F.main([str(tmp_path / "bad.csv")]) == 1
    assert f"{tmp_path / 'bad.csv'}: not a findings.csv" in capsys.readouterr().err
    with pytest.raises(WorkflowError, match="no evaluation of model 'ja-en' for base 'b'"):
        F.check(results, F.paper_findings({"b": "Base"}, ["ja-en"], "m", "M"), CATEGORIES, DIRECTIONS)
