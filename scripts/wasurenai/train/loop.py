"""The training loop, through DeepSpeed: demo pretraining, instruct tuning and CPT.

The data are packed windows (``packing.load_packed``); every window is a full training
sequence (labels = inputs, no padding). Each optimizer step takes ``global_batch_size``
windows, in an order given by seeded permutations of all windows (a new permutation per
pass). AdamW (betas, eps, weight decay on matrices only), linear warm-up to ``lr`` over
``warmup_steps`` optimizer steps, then a cosine decay to the floor ``min_lr`` at the last
step; gradient clipping, accumulation and ZeRO by DeepSpeed.

``train`` reads top to bottom: load the data, build the model and the engine, resume,
then one ``train_step`` per optimizer step (it owns the NaN and out-of-memory failures),
a log row every ``log_every`` steps, checkpoints, and the model saved at the end.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import deepspeed
import numpy as np
import torch
from tqdm import tqdm

from wasurenai.common import WorkflowError, get_logger, read_json, set_seed
from wasurenai.jobs import TrainJob
from wasurenai.packing import load_packed
from wasurenai.train.checkpoints import checkpoint, resume, resume_path, save, write_metrics
from wasurenai.train.distributed import setup_distributed
from wasurenai.train.hyperparameters import deepspeed_config, lr_at, total_steps, validate_hp
from wasurenai.train.model import build_model, check_data, enable_activation_checkpointing

# Dense peak TFLOP/s per device by name and precision (NVIDIA data sheets, no sparsity):
# the denominator of MFU. Other devices: set hp.peak_tflops.
PEAK_TFLOPS = {
    ("H100 PCIe", "bf16"): 756.0, ("H100 PCIe", "fp32"): 51.0,
    ("H100", "bf16"): 989.4, ("H100", "fp32"): 66.9,   # SXM; H200 has the same cores
    ("H200", "bf16"): 989.4, ("H200", "fp32"): 66.9,
    ("A100", "bf16"): 312.0, ("A100", "fp32"): 19.5,
}


@dataclass(frozen=True)
class Run:
    """The facts of one run that every step reads (fixed once the engine is built)."""

    job: TrainJob
    hp: dict
    tokens: np.ndarray
    order: np.ndarray  # window index of every sample of every step
    steps: int
    world_size: int
    rank: int
    accum: int
    n_params: int
    peak: float | None  # FLOP/s of one device; None: no MFU
    resume_dir: Path
    fingerprint: dict

    @property
    def window(self) -> int:
        return self.tokens.shape[1]


def train(
    tokens_bin: str | Path, meta_json: str | Path, tokenizer_dir: str | Path, out_dir: str | Path,
    hp: dict, architecture: dict | None = None, init_model: str | Path | None = None,
    logger=None, threads: int | None = None, metrics_csv: str | Path | None = None,
) -> list[dict]:
    """Train and write ``out_dir`` atomically (safetensors model, tokenizer files,
    train_log.csv). Returns the log rows {step, loss, lr, tokens_per_s, mfu}: ``step`` is
    the 1-based optimizer step, ``loss`` the mean loss of the steps since the previous row,
    ``mfu`` the model FLOPs utilisation (None where the device's peak is unknown). With
    ``metrics_csv`` the rows so far are also written there at every row, to watch a run."""
    job = TrainJob(tokens_bin=str(tokens_bin), meta_json=str(meta_json),
                   tokenizer_dir=str(tokenizer_dir), out_dir=str(out_dir), hp=dict(hp),
                   architecture=architecture, init_model=init_model and str(init_model),
                   threads=threads, metrics_csv=metrics_csv and str(metrics_csv))
    return train_job(job, logger or get_logger("train"))


def train_job(job: TrainJob, logger) -> list[dict]:
    """``train`` for a job object, in this process."""
    world_size = setup_distributed()
    hp = validate_hp(job.hp, world_size)
    with _cpu_threads(job.threads), StopOnSigterm() as stop:
        return _train(job, hp, world_size, stop, logger)


def _train(job: TrainJob, hp: dict, world_size: int, stop: StopOnSigterm, logger) -> list[dict]:
    tokens = load_packed(job.tokens_bin, job.meta_json)
    steps = total_steps(hp, len(tokens))

    set_seed(hp["seed"])
    model = build_model(job.tokenizer_dir, hp["dropout"], job.architecture, job.init_model, logger)
    check_data(tokens, read_json(job.meta_json), job.meta_json, model.config)
    if hp["activation_checkpointing"]:
        enable_activation_checkpointing(model)
    n_params = model.num_parameters()  # tied weights once; before ZeRO-3 partitions them
    engine, scheduler = _engine(model, hp, steps, world_size)
    run = _run(job, hp, tokens, steps, world_size, engine, n_params)
    _log_start(run, engine, logger)

    start, rows = (resume(engine, run.resume_dir, run.fingerprint, logger)
                   if hp["checkpoint_every"] else (0, []))
    engine.train()
    meter = _Meter(run)
    bar = tqdm(total=steps, initial=start, desc="optimizer steps", unit="step",
               disable=run.rank != 0, mininterval=5.0, file=sys.stderr)
    for step in range(start, steps):
        lr = scheduler.get_last_lr()[0]
        meter.add(train_step(engine, run, step))
        bar.update(1)
        if (step + 1) % hp["log_every"] == 0 or step + 1 == steps:
            rows.append(meter.row(step + 1, lr, logger))
            if job.metrics_csv and run.rank == 0:
                write_metrics(job.metrics_csv, rows)
        if stop.any_rank(engine.device, world_size) and step + 1 < steps:
            bar.close()
            raise _stopped(engine, run, step + 1, rows, logger)
        every = hp["checkpoint_every"]
        if every and (step + 1) % every == 0 and step + 1 < steps:
            checkpoint(engine, run.resume_dir, step + 1, rows, run.fingerprint, logger)
    bar.close()

    save(engine, rows, job.tokenizer_dir, job.out_dir, run.rank, hp["zero_stage"])
    if run.rank == 0:
        shutil.rmtree(run.resume_dir, ignore_errors=True)  # the run is complete
    return rows


def train_step(engine, run: Run, step: int) -> list[float]:
    """Optimizer step ``step`` (0-based) on this rank's share of its global batch, one
    micro-batch at a time; returns the micro-batches' losses. A non-finite loss or an
    allocator failure fails the job, naming the step and what to change."""
    hp, micro = run.hp, run.hp["micro_batch_size"]
    batch = run.order[step * hp["global_batch_size"]:(step + 1) * hp["global_batch_size"]]
    mine = batch[run.rank * micro * run.accum:(run.rank + 1) * micro * run.accum]
    losses = []
    try:
        for m in range(run.accum):
            idx = np.sort(mine[m * micro:(m + 1) * micro])
            ids = torch.from_numpy(run.tokens[idx].astype(np.int64)).to(engine.device)
            loss = engine(input_ids=ids, labels=ids).loss
            if not torch.isfinite(loss):
                raise _non_finite(loss.item(), step + 1, m + 1, run)
            engine.backward(loss)
            engine.step()
            losses.append(loss.item())
    except (RuntimeError, MemoryError) as err:
        if is_out_of_memory(err):
            raise out_of_memory_error(err, step + 1, hp) from err
        raise
    return losses


# --- setup -------------------------------------------------------------------------------

def _engine(model, hp: dict, steps: int, world_size: int):
    """The DeepSpeed engine (AdamW, weight decay on matrices only) and its LR scheduler."""
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": hp["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0}],
        lr=hp["lr"], betas=tuple(hp["betas"]), eps=hp["eps"],
    )
    # LambdaLR multiplies the base lr: factor = lr_at(step) / lr.
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_at(s, hp, steps) / hp["lr"])
    engine, _, _, _ = deepspeed.initialize(
        model=model, optimizer=optimizer, lr_scheduler=scheduler,
        config=deepspeed_config(hp, world_size),
    )
    return engine, scheduler


def _run(job: TrainJob, hp: dict, tokens: np.ndarray, steps: int, world_size: int, engine,
         n_params: int) -> Run:
    n_windows = tokens.shape[0]
    fingerprint = {"hp": {k: hp[k] for k in sorted(hp)}, "n_windows": int(n_windows),
                   "init_model": str(job.init_model), "world_size": world_size}
    return Run(
        job=job, hp=hp, tokens=tokens, steps=steps, world_size=world_size,
        order=window_order(n_windows, steps * hp["global_batch_size"], hp["seed"]),
        rank=engine.global_rank, accum=engine.gradient_accumulation_steps(), n_params=n_params,
        peak=peak_flops(hp, engine.device), resume_dir=resume_path(job.out_dir),
        fingerprint=fingerprint,
    )


def _log_start(run: Run, engine, logger) -> None:
    hp = run.hp
    logger.info(
        "training %s parameters for %d steps: %d windows x %d tokens, global batch %d = "
        "micro %d x accumulation %d x %d processes, zero %d, %s%s, device %s (peak %s)",
        f"{run.n_params:,}", run.steps, len(run.tokens), run.window, hp["global_batch_size"],
        hp["micro_batch_size"], run.accum, run.world_size, hp["zero_stage"], hp["precision"],
        ", activation checkpointing" if hp["activation_checkpointing"] else "", engine.device,
        f"{run.peak / 1e12:g} TFLOP/s" if run.peak else "unknown: no MFU",
    )


def window_order(n_windows: int, n_samples: int, seed: int) -> np.ndarray:
    """``n_samples`` window indices: seeded permutations of all windows, one per pass."""
    rng = np.random.default_rng(seed)
    passes = -(-n_samples // n_windows)
    return np.concatenate([rng.permutation(n_windows) for _ in range(passes)])[:n_samples]


def peak_flops(hp: dict, device) -> float | None:
    """Peak FLOP/s of one device for MFU: hp.peak_tflops, else by the CUDA device's name."""
    if hp["peak_tflops"] is not None:
        return hp["peak_tflops"] * 1e12
    if getattr(device, "type", str(device)) != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for (key, precision), tflops in PEAK_TFLOPS.items():  # most specific names first
        if key in name and precision == hp["precision"]:
            return tflops * 1e12
    return None


@contextlib.contextmanager
def _cpu_threads(threads: int | None):
    """On a CPU run, torch uses the job's threads (at most the machine's) meanwhile."""
    saved = torch.get_num_threads()
    if threads and not torch.cuda.is_available():
        torch.set_num_threads(max(1, min(int(threads), os.cpu_count() or 1)))
    try:
        yield
    finally:
        torch.set_num_threads(saved)


# --- logging -----------------------------------------------------------------------------

class _Meter:
    """Loss and throughput since the previous log row."""

    def __init__(self, run: Run):
        self.run = run
        self.loss_sum, self.loss_n, self.tokens, self.t_last = 0.0, 0, 0, time.perf_counter()

    def add(self, losses: list[float]) -> None:
        for loss in losses:
            self.loss_sum += loss
            self.loss_n += 1
        self.tokens += self.run.hp["global_batch_size"] * self.run.window

    def row(self, step: int, lr: float, logger) -> dict:
        """The log row of ``step`` (1-based), logged; the meter starts over."""
        run = self.run
        tokens_per_s = self.tokens / (time.perf_counter() - self.t_last)
        row = {"step": step, "loss": self.loss_sum / self.loss_n, "lr": lr,
               "tokens_per_s": tokens_per_s,
               "mfu": 6 * run.n_params * tokens_per_s / (run.peak * run.world_size) if run.peak else None}
        logger.info("step %d/%d loss %.4f lr %.3g %.0f tokens/s%s", step, run.steps,
                    row["loss"], lr, tokens_per_s,
                    f" MFU {row['mfu']:.1%}" if row["mfu"] is not None else "")
        self.loss_sum, self.loss_n, self.tokens, self.t_last = 0.0, 0, 0, time.perf_counter()
        return row


# --- failures and stops ------------------------------------------------------------------

def _non_finite(loss: float, step: int, micro_batch: int, run: Run) -> WorkflowError:
    return WorkflowError(
        f"training: loss is {loss} at step {step} (micro-batch {micro_batch}); "
        f"lower hp.lr ({run.hp['lr']}) or check the data {run.job.tokens_bin}"
        + (f". The last good checkpoint stays in {run.resume_dir}"
           if (run.resume_dir / "latest").is_file() else "")
    )


def is_out_of_memory(err: BaseException) -> bool:
    """A device (CUDA) or host allocator failure, as torch raises them."""
    if isinstance(err, (torch.OutOfMemoryError, MemoryError)):
        return True
    text = str(err).lower()  # other RuntimeErrors of torch's CPU and CUDA allocators
    return "can't allocate memory" in text or "out of memory" in text


def out_of_memory_error(err: BaseException, step: int, hp: dict) -> WorkflowError:
    return WorkflowError(
        f"training: out of memory at step {step} with {hp['micro_batch_size']} sequences per "
        f"device ({type(err).__name__}: {str(err).splitlines()[0][:200]}). Lower config key "
        "cpt.micro_batch_size (gradient accumulation grows to keep cpt.global_batch_size), "
        "or set cpt.activation_checkpointing: true, or raise cpt.zero_stage"
    )


def _stopped(engine, run: Run, step: int, rows: list[dict], logger) -> WorkflowError:
    """Checkpoint (if the run keeps checkpoints) after a SIGTERM; the error to fail with."""
    every = run.hp["checkpoint_every"]
    if every:
        checkpoint(engine, run.resume_dir, step, rows, run.fingerprint, logger)
    return WorkflowError(
        f"training: stopped by SIGTERM after step {step}/{run.steps}; "
        + (f"checkpoint saved in {run.resume_dir}: rerun the job to resume" if every else
           "no checkpoint (cpt.checkpoint_every is 0): a rerun starts over")
    )


class StopOnSigterm:
    """Turns SIGTERM (SLURM's walltime warning, scancel) into a flag the loop reads after
    each optimizer step, so the run can checkpoint and stop cleanly. Main thread only."""

    def __init__(self):
        self.flag = False
        self._old = None

    def __enter__(self) -> StopOnSigterm:
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGTERM, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        if self._old is not None:
            signal.signal(signal.SIGTERM, self._old)

    def _handle(self, signum, frame):
        self.flag = True

    def any_rank(self, device, world_size: int) -> bool:
        """True on every rank when any rank got the signal (ranks must stop at one step)."""
        if world_size == 1:
            return self.flag
        flag = torch.tensor([float(self.flag)], device=device)
        torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
        return bool(flag.item())
