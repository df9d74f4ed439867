"""Merge a base model with its CPT models through mergekit's Python API.

A merge spec (one entry of config ``merges``) names a mergekit method and a weight per role
(``base``, ``ja-en``, ``en-ja``). Task-vector methods (mergekit's generalized task arithmetic:
task_arithmetic, ties, dare_*, breadcrumbs*, della*) take the ``base`` role as mergekit's
``base_model`` and merge the other roles' task vectors; a weight given for ``base`` has no
effect there (mergekit ignores the base model's own weight) and is recorded, not passed.
Other methods (linear, ...) merge every weighted role directly.
"""
from __future__ import annotations

import os
from pathlib import Path

import yaml

from .common import WorkflowError, atomic_dir, first_log, get_logger

BASE_ROLE = "base"


def _registry():
    from mergekit.merge_methods.registry import REGISTERED_MERGE_METHODS

    return REGISTERED_MERGE_METHODS


def is_task_vector_method(method: str) -> bool:
    from mergekit.merge_methods.generalized_task_arithmetic import GeneralizedTaskArithmeticMerge

    return isinstance(_registry()[method], GeneralizedTaskArithmeticMerge)


def mergekit_config(name: str, spec: dict, models: dict[str, str | Path]) -> dict:
    """The mergekit YAML (as a dict) for merge ``name``; ``models`` maps role -> model dir."""
    method = spec["method"]
    if method not in _registry():
        raise WorkflowError(
            f"merges.{name}.method: unknown mergekit method {method!r}; "
            f"known: {', '.join(sorted(_registry()))}"
        )
    weights = spec["weights"]
    for role in weights:
        if role not in models:
            raise WorkflowError(f"merges.{name}.weights.{role}: no model for this role")
    task_vectors = is_task_vector_method(method)
    if task_vectors and BASE_ROLE not in models:
        raise WorkflowError(f"merges.{name}: method {method} needs the base model")
    entries = []
    for role, weight in weights.items():
        if task_vectors and role == BASE_ROLE:
            continue
        params = {"weight": float(weight)}
        if "density" in spec:
            params["density"] = float(spec["density"])
        entries.append({"model": str(Path(models[role]).resolve()), "parameters": params})
    if not entries:
        raise WorkflowError(f"merges.{name}.weights: no model to merge besides the base")
    config = {"merge_method": method, "models": entries, "dtype": "float32"}
    if task_vectors:
        config["base_model"] = str(Path(models[BASE_ROLE]).resolve())
    return config


def run_merge(config: dict, out_dir: str | Path, seed: int | None = None, threads: int = 1) -> None:
    """Run mergekit on the CPU, offline; the output (with the YAML) appears atomically."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from mergekit.config import MergeConfiguration
    from mergekit.merge import MergeOptions
    from mergekit.merge import run_merge as mergekit_run

    torch.set_num_threads(max(1, threads))
    merge_config = MergeConfiguration.model_validate(config)
    options = MergeOptions(
        copy_tokenizer=True, random_seed=seed, lazy_unpickle=True, write_model_card=False,
        quiet=True, safe_serialization=True,
    )
    with atomic_dir(out_dir) as tmp:
        mergekit_run(merge_config, str(tmp), options)
        (tmp / "mergekit_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))


def merge(name: str, spec: dict, models: dict[str, str | Path], out_dir: str | Path,
          threads: int = 1, logger=None) -> dict:
    config = mergekit_config(name, spec, models)
    if logger:
        logger.info("merge %s: %s", name, config)
    run_merge(config, out_dir, seed=spec.get("seed"), threads=threads)
    return config


def main(smk) -> None:
    logger = get_logger("merge", first_log(smk))
    models = dict(zip(smk.params.roles, smk.input.models))
    merge(smk.wildcards.merge, dict(smk.params.spec), models, smk.output[0],
          threads=smk.threads, logger=logger)
