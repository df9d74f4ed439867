"""Paired bootstrap confidence intervals for every score of the evaluation JSONs.

One bootstrap replicate draws, for every dataset, its samples with replacement — the same
draw for every model (paired) — and recomputes each model's scores from the per-sample
forms the evaluation kept (``datasets.<name>.samples``, ``translation.<dir>.samples``):

* a dataset's metric: the mean of the resampled values, or for pearson / spearman the
  correlation of the resampled pairs (``metrics.reduce_samples``);
* a category: the mean of its members, AVG: the mean over the categories, exactly as the
  evaluation computed them (a category scored 0.0 for want of a score stays 0.0); every
  dataset is resampled in the same replicate, so the categories' covariance is kept;
* corpus BLEU: sacrebleu's own score of the column sums of the resampled per-segment
  sufficient statistics (what ``sacrebleu.significance``'s paired bootstrap does);
  BERTScore and COMET: the mean of the resampled segment scores.

An interval is the percentile interval of the replicates (``confidence``, 95 % by default);
a difference to the base model is the interval of the per-replicate differences, and it
"excludes 0" when both bounds lie on the same side of 0. The draws come from one seeded
generator per dataset (``seed`` and the dataset's name), so two runs agree and adding a
model changes no other model's interval.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from .common import WorkflowError
from .llm_jp_eval import ZEROED
from .metrics import PAIRED_METRICS, bleu_from_stats, correlation
from .tables import METRIC_COLUMNS

DEFAULTS = {"resamples": 1000, "confidence": 0.95, "seed": 0}


@dataclass(frozen=True)
class Interval:
    value: float | None
    lo: float | None
    hi: float | None

    @property
    def excludes_zero(self) -> bool:
        return self.lo is not None and (self.lo > 0 or self.hi < 0)


def check_samples(res: dict, path: str) -> None:
    """An evaluation JSON written before per-sample scores were kept cannot give intervals."""
    datasets = res.get("datasets") or {}
    stale = [name for name, ds in datasets.items() if "samples" not in ds]
    stale += [f"translation.{d}" for d, t in (res.get("translation") or {}).items()
              if t.get("n") and "samples" not in t]
    if stale:
        raise WorkflowError(
            f"{path}: no per-sample scores for {', '.join(stale[:5])}"
            f"{' ...' if len(stale) > 5 else ''} (written before they were kept); rerun its "
            "evaluation (e.g. snakemake --forcerun evaluate, or delete the file)")


def _rng(seed: int, name: str) -> np.random.Generator:
    digest = hashlib.sha256(f"{seed}\x00{name}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


class Draws:
    """The resample indices per dataset, shared by every model: (resamples, n) each."""

    def __init__(self, resamples: int, seed: int):
        if resamples < 1:
            raise WorkflowError(f"report.intervals.resamples: {resamples}, must be >= 1")
        self.resamples, self.seed = int(resamples), int(seed)
        self._idx: dict[tuple[str, int], np.ndarray] = {}

    def __call__(self, name: str, n: int) -> np.ndarray:
        key = (name, n)
        if key not in self._idx:
            self._idx[key] = _rng(self.seed, name).integers(0, n, size=(self.resamples, n))
        return self._idx[key]


def metric_replicates(metric: str, samples, idx: np.ndarray) -> np.ndarray:
    """The dataset metric in every replicate (rows of ``idx``)."""
    if metric in PAIRED_METRICS:
        ref = np.asarray(samples["reference"], dtype=float)
        pred = np.asarray(samples["prediction"], dtype=float)
        return np.array([correlation(metric, ref[i], pred[i]) for i in idx])
    values = np.asarray(samples, dtype=float)
    return values[idx].mean(axis=1)


def bleu_replicates(stats, lang: str, idx: np.ndarray) -> np.ndarray:
    sums = np.asarray(stats, dtype=np.int64)[idx].sum(axis=1)
    return np.array([bleu_from_stats(row.tolist(), lang) for row in sums])


def replicates(res: dict, categories: dict, draws: Draws, directions: dict) -> dict:
    """{score name: replicates} for one evaluation JSON: every category, AVG, MT and the
    Table 1 columns ("<direction> <BERTScore|BLEU|COMET>"). ``categories`` maps a category
    to its (dataset, metric or None) members; ``directions`` a direction to its target
    language."""
    out: dict[str, np.ndarray] = {}
    datasets, zero = res.get("datasets") or {}, np.zeros(draws.resamples)
    for cat, members in categories.items():
        reps = []
        for dataset, metric in members:
            ds = datasets.get(dataset)
            metric = metric or (ds or {}).get("main_metric")
            if ds is None or metric not in ds.get("samples", {}):
                continue
            idx = draws(dataset, ds["n"])
            reps.append(metric_replicates(metric, ds["samples"][metric], idx))
        value = (res.get("categories") or {}).get(cat)
        zeroed = str((res.get("category_reasons") or {}).get(cat, "")).startswith(ZEROED)
        if reps:
            out[cat] = np.mean(reps, axis=0)
        elif zeroed and value is not None:  # 0.0 for want of a score, as llm-jp-eval's AVG
            out[cat] = zero + value
    counted = [cat for cat in categories if cat in out]
    scored = [cat for cat, v in (res.get("categories") or {}).items() if v is not None]
    if counted and len(counted) == len(scored):  # AVG's every category resampled
        out["AVG"] = np.mean([out[c] for c in counted], axis=0)
    for direction, lang in directions.items():
        t = (res.get("translation") or {}).get(direction) or {}
        samples = t.get("samples") or {}
        if not t.get("n") or not samples:
            continue
        idx = draws(str(t.get("dataset")), t["n"])  # an MT member's own draw when shared
        for column, key in METRIC_COLUMNS:
            if key == "bleu" and samples.get("bleu_stats"):
                out[f"{direction} {column}"] = bleu_replicates(samples["bleu_stats"], lang, idx)
            elif samples.get(key) is not None:
                out[f"{direction} {column}"] = np.asarray(samples[key], float)[idx].mean(axis=1)
    return out


def interval(value, reps: np.ndarray | None, confidence: float) -> Interval:
    if reps is None or value is None:
        return Interval(value, None, None)
    tail = (1 - confidence) / 2 * 100
    lo, hi = np.percentile(reps, [tail, 100 - tail])
    return Interval(float(value), float(lo), float(hi))


def point_values(res: dict, directions: Iterable[str]) -> dict:
    """The evaluation's own numbers, keyed like ``replicates``."""
    out = dict(res.get("categories") or {})
    out.update({"AVG": res.get("AVG"), "MT": res.get("MT")})
    for direction in directions:
        t = (res.get("translation") or {}).get(direction) or {}
        for column, key in METRIC_COLUMNS:
            out[f"{direction} {column}"] = t.get(key)
    return out


def pair_interval(res_a: dict, res_b: dict, score: str, categories: dict, directions: dict,
                  resamples: int = DEFAULTS["resamples"], confidence: float = DEFAULTS["confidence"],
                  seed: int = DEFAULTS["seed"]) -> Interval:
    """The paired interval of ``score`` of model a minus model b (same draws as the tables)."""
    draws = Draws(resamples, seed)
    ra, rb = (replicates(r, categories, draws, directions) for r in (res_a, res_b))
    return difference((res_a, ra), (res_b, rb), score, directions, confidence)


def difference(a: tuple[dict, dict], b: tuple[dict, dict], score: str, directions: Iterable[str],
               confidence: float = DEFAULTS["confidence"]) -> Interval:
    """The interval of ``score`` of a minus b, each given as (evaluation JSON, its replicates)."""
    (res_a, ra), (res_b, rb) = a, b
    va, vb = point_values(res_a, directions).get(score), point_values(res_b, directions).get(score)
    diff = None if va is None or vb is None else va - vb
    both = score in ra and score in rb
    return interval(diff, ra[score] - rb[score] if both else None, confidence)


def base_intervals(results: dict, categories: dict, directions: dict, base: str,
                   models: list[str], resamples: int = DEFAULTS["resamples"],
                   confidence: float = DEFAULTS["confidence"], seed: int = DEFAULTS["seed"],
                   base_model: str = "base") -> list[dict]:
    """One row per (model, score) of one base: the score, its interval, and for every
    model but the base model the paired difference to it and its interval."""
    if not 0 < confidence < 1:
        raise WorkflowError(f"report.intervals.confidence: {confidence}, must be in (0, 1)")
    draws = Draws(resamples, seed)
    reps = {m: replicates(results[(base, m)], categories, draws, directions) for m in models}
    rows = []
    for model in models:
        values = point_values(results[(base, model)], directions)
        ref_values = point_values(results[(base, base_model)], directions)
        for score, value in values.items():
            row = {"base": base, "model": model, "score": score}
            iv = interval(value, reps[model].get(score), confidence)
            row.update(value=iv.value, lo=iv.lo, hi=iv.hi)
            if model != base_model:
                mine, theirs = reps[model].get(score), reps[base_model].get(score)
                diff = None if value is None or ref_values.get(score) is None \
                    else value - ref_values[score]
                d = interval(diff, None if mine is None or theirs is None else mine - theirs,
                             confidence)
                row.update(diff=d.value, diff_lo=d.lo, diff_hi=d.hi,
                           excludes_zero=d.excludes_zero)
            rows.append(row)
    return rows
