"""Training hyperparameters: the config schema's rules for them, the few rules a schema
cannot express, the defaults of the optional keys, and what follows from them (the
learning-rate schedule, the number of steps, DeepSpeed's batch configuration).

A hyperparameter dict is complete: every key of config ``cpt`` (a demo stage's section
overrides some). The per-key rules are the schema's own (``train_section`` in
``workflow/schemas/config.schema.yaml``), checked here with jsonschema, so a dict built in
Python (tests, benchmarks) meets the same rules as a config Snakemake validated.
"""
from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

from wasurenai.common import WorkflowError

SCHEMA = Path(__file__).resolve().parents[3] / "workflow" / "schemas" / "config.schema.yaml"


@lru_cache(maxsize=1)
def hp_schema() -> dict:
    """The schema of a complete hyperparameter dict: config key ``cpt``'s definition."""
    import yaml

    if not SCHEMA.is_file():
        raise WorkflowError(f"{SCHEMA}: the config schema is missing (training hp are checked against it)")
    schema = yaml.safe_load(SCHEMA.read_text(encoding="utf-8"))
    return {"$schema": schema["$schema"], "$defs": schema["$defs"], **schema["properties"]["cpt"]}


def required_keys() -> list[str]:
    """The keys every hyperparameter dict must have (cpt's required list)."""
    return next(part["required"] for part in hp_schema()["allOf"] if "required" in part)


def hp_defaults() -> dict:
    """The optional keys' values when left out: the schema's defaults under ``cpt``."""
    part = next(part for part in hp_schema()["allOf"] if "required" in part)
    return {k: v["default"] for k, v in part.get("properties", {}).items() if "default" in v}


def validate_hp(hp: dict, world_size: int = 1) -> dict:
    """A checked copy of ``hp`` with the optional keys' defaults filled in; errors name
    the ``hp.<key>``."""
    import jsonschema

    missing = [k for k in required_keys() if k not in hp]
    if missing:
        raise WorkflowError(f"training hp: missing keys {missing} (fill them from config key cpt)")
    hp = {**hp, **{k: v for k, v in hp_defaults().items() if k not in hp}}
    errors = sorted(jsonschema.Draft202012Validator(hp_schema()).iter_errors(hp),
                    key=lambda e: list(e.absolute_path))
    for err in errors:
        if err.absolute_path:
            key = err.absolute_path[0]
            raise WorkflowError(f"training hp.{key} = {hp[key]!r}: {err.message}")
        raise WorkflowError(f"training hp: {err.message}")
    if hp["min_lr"] > hp["lr"]:
        raise WorkflowError(f"training hp.min_lr = {hp['min_lr']!r}: must be between 0 and lr")
    per_step = hp["micro_batch_size"] * world_size
    if hp["global_batch_size"] % per_step:
        raise WorkflowError(
            f"training hp.global_batch_size = {hp['global_batch_size']!r}: must be a multiple "
            f"of micro_batch_size x devices = {per_step}"
        )
    return hp


def lr_at(step: int, hp: dict, total_steps: int) -> float:
    """Learning rate of optimizer step ``step`` (0-based): linear warm-up reaching ``lr`` at
    step ``warmup_steps - 1``, then cosine decay reaching ``min_lr`` at the last step."""
    lr, min_lr, warmup = hp["lr"], hp["min_lr"], hp["warmup_steps"]
    if step < warmup:
        return lr * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total_steps - 1 - warmup))
    return min_lr + (lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))


def total_steps(hp: dict, n_windows: int) -> int:
    """``hp.steps``, or for null the optimizer steps of one pass over the windows."""
    if hp["steps"] is not None:
        return hp["steps"]
    steps = n_windows // hp["global_batch_size"]
    if steps < 1:
        raise WorkflowError(
            f"training hp.steps = null: {n_windows} windows are fewer than one global batch "
            f"(hp.global_batch_size = {hp['global_batch_size']})"
        )
    return steps


def deepspeed_config(hp: dict, world_size: int) -> dict:
    return {
        "train_batch_size": hp["global_batch_size"],
        "train_micro_batch_size_per_gpu": hp["micro_batch_size"],
        "gradient_accumulation_steps": hp["global_batch_size"] // (hp["micro_batch_size"] * world_size),
        "gradient_clipping": float(hp["grad_clip"]),
        "zero_optimization": {"stage": hp["zero_stage"]},
        "bf16": {"enabled": hp["precision"] == "bf16"},
        "zero_allow_untested_optimizer": True,  # a plain torch AdamW
        "steps_per_print": 10**9,
        "wall_clock_breakdown": False,
    }
