"""What a run writes: resumable DeepSpeed checkpoints beside the output, the metrics log,
and the finished model directory (safetensors, tokenizer files, train_log.csv)."""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import deepspeed
import numpy as np
import torch

from wasurenai.common import WorkflowError, atomic_dir, atomic_open, read_json, write_json
from wasurenai.train.model import copy_tokenizer_files

LOG_COLUMNS = ("step", "loss", "lr", "tokens_per_s", "mfu")


def write_metrics(path, rows: list[dict]) -> None:
    with atomic_open(path, newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=LOG_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def resume_path(out_dir) -> Path:
    """Where a run keeps its DeepSpeed checkpoints: beside the output, which Snakemake
    deletes when a job fails, so they survive a killed job and its rerun."""
    out_dir = Path(out_dir)
    return out_dir.parent / f".{out_dir.name}.resume"


def checkpoint(engine, resume_dir: Path, step: int, rows, fingerprint, logger) -> None:
    """DeepSpeed checkpoint after optimizer step ``step``; the data position, log rows and
    RNG state go in its client state. ``latest`` names the checkpoint to resume: it is
    replaced atomically, and only once every rank has written all of its files (DeepSpeed's
    own ``latest`` is written by rank 0 before the other ranks finish, and not atomically),
    so a checkpoint cut short is never resumed. Older checkpoints go after that."""
    state = {"step": step, "rows": rows, "fingerprint": fingerprint,
             "torch_rng": torch.get_rng_state(), "numpy_rng": np.random.get_state()}
    tag = f"step{step}"
    engine.save_checkpoint(str(resume_dir), tag=tag, client_state=state, save_latest=False)
    # save_checkpoint ends with a barrier: every rank's files of this tag are written
    if engine.global_rank == 0:
        write_json(resume_dir / "fingerprint.json", fingerprint)
        with atomic_open(resume_dir / "latest") as fh:
            fh.write(tag)
        for old in resume_dir.glob("step*"):
            if old.name != tag:
                shutil.rmtree(old, ignore_errors=True)
    logger.info("checkpoint at step %d -> %s", step, resume_dir)


def resume(engine, resume_dir: Path, fingerprint: dict, logger) -> tuple[int, list[dict]]:
    """(first step to run, log rows so far) from the last complete checkpoint, if it was
    made by a run with the same hyperparameters and data; otherwise (0, [])."""
    if not (resume_dir / "latest").is_file():
        return 0, []
    try:
        same = read_json(resume_dir / "fingerprint.json") == json.loads(json.dumps(fingerprint))
    except (OSError, ValueError):
        same = False
    if not same:
        logger.warning("%s: a checkpoint of another run (hyperparameters or data differ); "
                       "removed, starting from step 0", resume_dir)
        shutil.rmtree(resume_dir, ignore_errors=True)
        return 0, []
    path, state = engine.load_checkpoint(str(resume_dir), load_optimizer_states=True,
                                         load_lr_scheduler_states=True)
    if path is None or not state:
        raise WorkflowError(f"{resume_dir}: DeepSpeed could not load the latest checkpoint")
    torch.set_rng_state(state["torch_rng"])
    np.random.set_state(state["numpy_rng"])
    logger.info("resuming after step %d from %s", state["step"], path)
    return int(state["step"]), list(state["rows"])


def save(engine, rows: list[dict], tokenizer_dir, out_dir, rank: int, zero_stage: int) -> None:
    """Model (safetensors), tokenizer files and train_log.csv, written by rank 0."""
    model = engine.module
    params = list(model.parameters()) if zero_stage == 3 else []
    with deepspeed.zero.GatheredParameters(params, enabled=zero_stage == 3):
        if rank != 0:
            return
        with atomic_dir(out_dir) as tmp:
            model.save_pretrained(tmp, safe_serialization=True)
            copy_tokenizer_files(tokenizer_dir, tmp)
            write_metrics(tmp / "train_log.csv", rows)
