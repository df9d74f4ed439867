"""Sweep mode: merge each grid point of a sweep in memory and evaluate it at once.

One job per (base, sweep): the evaluation datasets, the metric models and a model shell
(the base, loaded once) are prepared once; then for every grid point mergekit merges the
input models straight into the shell's parameters (``merge.merge_into``, no checkpoint
written) and the point is evaluated. Each point's JSON is the one ``evaluate`` writes for
a merged checkpoint (same keys and scores; ``model_path`` says "in memory").
"""
from __future__ import annotations

import time

from .common import get_logger, write_json
from .evaluation import dev_split_config, evaluate, evaluate_dev, load_model, new_suite, prepare
from .jobs import SweepJob
from .merge import DEFAULT_SEED, job_environment, mergekit_config, merge_into


def run_sweep(base: str, points: dict[str, dict], models: dict[str, str], dataset_dir: str,
              cfg: dict, outputs: dict[str, str], logger=None, dev: dict | None = None) -> dict[str, float]:
    """Evaluate every point (and score ``dev``, the dev split, as rule evaluate does); returns
    seconds per point. ``outputs``: point -> JSON path."""
    log = logger.info if logger else (lambda *a: None)
    suite = new_suite(cfg)
    tasks = prepare(dataset_dir, cfg, suite, log)
    dev_tasks = None
    if dev:
        dcfg = dev_split_config(cfg, dev["dataset_dir"], dev.get("max_samples"), dev.get("translation", False))
        dev_tasks = prepare(dcfg["dataset_dir"], dcfg, suite, log)
    model, tokenizer = load_model(models["base"])
    seconds = {}
    for name, spec in points.items():
        t0 = time.perf_counter()
        config = mergekit_config(name, spec, models)
        merge_into(config, model, seed=spec.get("seed", DEFAULT_SEED))
        result = evaluate(f"in memory: merge {name} of {sorted(models)}", dataset_dir, cfg,
                          suite=suite, tasks=tasks, loaded=(model, tokenizer), logger=logger)
        if dev:
            result["dev"] = evaluate_dev(result["model_path"], cfg, dev, suite, (model, tokenizer),
                                         logger, dev_tasks)
        write_json(outputs[name], {"base": base, "model": name, **result})
        seconds[name] = time.perf_counter() - t0
        log(f"{name}: AVG={result['AVG']} MT={result['MT']} ({seconds[name]:.1f} s)")
    return seconds


def main(job: SweepJob) -> None:
    """Rules sweep_<name>: every point of the job's sweep, merged in memory and evaluated."""
    job_environment()  # before torch allocates
    import torch

    logger = get_logger("sweep", job.log)
    torch.set_num_threads(max(1, int(job.threads)))
    run_sweep(job.base, job.points, job.models, job.cfg["dataset_dir"], job.cfg, job.outputs, logger, job.dev)
