"""Paired bootstrap intervals over a paper-size evaluation: 2 bases x 25 models, 25 datasets
x 100 samples (the paper preset's ten categories with v1.3.0-size member lists), both
translation directions (corpus BLEU from per-segment statistics, BERTScore, COMET), 1,000
resamples, 95 %. Times ``stats.base_intervals`` for every model and score (CPU seconds of
this process, as the aggregate job would spend them). Run from the repo root:
``python bench/stats.py``. Writes bench/results/stats.json.
"""
from __future__ import annotations

import random
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from wasurenai import metrics as M  # noqa: E402
from wasurenai.common import write_json  # noqa: E402
from wasurenai.stats import base_intervals  # noqa: E402

BASES, MODELS, DATASETS, SAMPLES, RESAMPLES = 2, 25, 25, 100, 1000
CATEGORY_SIZES = {"NLI": 5, "QA": 2, "RC": 1, "MC": 1, "HE": 2, "EL": 1, "FA": 5, "MR": 1,
                  "MT": 4, "CG": 1}  # 23 + the two Table 1 test sets = 25 datasets
WORDS = "the cat sat on a mat dog ran home I read book he is tall it rains".split()


def sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 12)))


def evaluation(rng: random.Random, categories: dict, refs: list[str]) -> dict:
    datasets, scores = {}, {}
    for cat, members in categories.items():
        vals = []
        for name, metric in members:
            samples = [float(rng.random() < 0.5) for _ in range(SAMPLES)]
            datasets[name] = {"n": SAMPLES, "main_metric": metric, "samples": {metric: samples},
                              "metrics": {metric: sum(samples) / SAMPLES}}
            vals.append(sum(samples) / SAMPLES)
        scores[cat] = sum(vals) / len(vals)
    translation = {}
    for direction, name in (("ja-en", "alt-j-to-e"), ("en-ja", "alt-e-to-j")):
        hyps = [sentence(rng) for _ in refs]
        translation[direction] = {
            "dataset": name, "n": SAMPLES, "bleu": M.corpus_bleu(hyps, refs, "en"),
            "bert_score": 0.5, "comet": 0.5,
            "samples": {"bleu_stats": M.corpus_bleu_stats(hyps, refs, "en"),
                        "bert_score": [rng.random() for _ in refs],
                        "comet": [rng.random() for _ in refs]}}
    return {"datasets": datasets, "categories": scores, "AVG": sum(scores.values()) / len(scores),
            "MT": scores["MT"], "translation": translation}


def main() -> None:
    rng = random.Random(0)
    categories = {cat: [(f"{cat.lower()}{i}", "exact_match") for i in range(n)]
                  for cat, n in CATEGORY_SIZES.items()}
    refs = [sentence(rng) for _ in range(SAMPLES)]
    models = ["base", *(f"m{i}" for i in range(MODELS - 1))]
    results = {(f"b{b}", m): evaluation(rng, categories, refs) for b in range(BASES) for m in models}
    directions = {"ja-en": "en", "en-ja": "en"}  # 13a for both: the tokenizer is not timed here
    t0, c0 = time.perf_counter(), time.process_time()
    rows = [r for b in range(BASES)
            for r in base_intervals(results, categories, directions, f"b{b}", models, RESAMPLES)]
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    out = {"bases": BASES, "models_per_base": MODELS, "datasets": DATASETS,
           "samples_per_dataset": SAMPLES, "resamples": RESAMPLES, "rows": len(rows),
           "cpu_s": round(cpu, 2), "wall_s": round(wall, 2), "target_cpu_s": 30}
    print(out)
    write_json(ROOT / "bench" / "results" / "stats.json", out)


if __name__ == "__main__":
    main()
