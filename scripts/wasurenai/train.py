"""One causal-LM training loop, through DeepSpeed: demo pretraining, instruct tuning and CPT.

The data are packed windows (``packing.load_packed``); every window is a full training
sequence (labels = inputs, no padding). Each optimizer step takes ``global_batch_size``
windows, in an order given by seeded permutations of all windows (a new permutation per
pass). AdamW (betas, eps, weight decay on matrices only), linear warm-up to ``lr`` over
``warmup_steps`` optimizer steps, then a cosine decay to the floor ``min_lr`` at the last
step; gradient clipping, accumulation and ZeRO by DeepSpeed.

Models: any causal-LM family of transformers, through AutoConfig / AutoModelForCausalLM
(a base's config.json names its family; a demo base's is ``demo.architecture.family``).
Dropout: ``hp.dropout`` goes into every dropout field the family's config has (Llama, Qwen2,
Mistral, Gemma: ``attention_dropout`` alone; GPT-NeoX: attention and hidden), set before the
model is built; the log says which, or that the family has none.

Launching: a job with one device trains in the Snakemake process. A job with several
(``resources: gpu`` > 1, or ``nodes`` > 1) starts one process per device with torchrun
(``python -m torch.distributed.run``): ``--standalone`` on one node; on several nodes one
torchrun per node through ``srun`` with a c10d rendezvous on the first node. Each process
runs ``python -m wasurenai.train <spec.json>``; DeepSpeed reads torchrun's RANK,
LOCAL_RANK and WORLD_SIZE.
"""
from __future__ import annotations

import csv
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import deepspeed
import deepspeed.ops
import numpy as np
import torch
from deepspeed.accelerator import get_accelerator
from tqdm import tqdm
from transformers import AutoTokenizer

from wasurenai.common import (
    WorkflowError, atomic_dir, atomic_open, first_log, get_logger, read_json, set_seed, write_json,
)
from wasurenai.families import demo_config, load_pretrained
from wasurenai.packing import load_packed

HP_KEYS = (
    "lr", "min_lr", "warmup_steps", "betas", "eps", "weight_decay", "grad_clip", "dropout",
    "global_batch_size", "micro_batch_size", "steps", "seed", "precision", "zero_stage",
    "log_every",
)
# Optional keys and their defaults.
HP_DEFAULTS = {"checkpoint_every": 0, "activation_checkpointing": False, "peak_tflops": None}
LOG_COLUMNS = ("step", "loss", "lr", "tokens_per_s", "mfu")
# Dense peak TFLOP/s per device by name and precision (NVIDIA data sheets, no sparsity):
# the denominator of MFU. Other devices: set hp.peak_tflops.
PEAK_TFLOPS = {
    ("H100 PCIe", "bf16"): 756.0, ("H100 PCIe", "fp32"): 51.0,
    ("H100", "bf16"): 989.4, ("H100", "fp32"): 66.9,   # SXM; H200 has the same cores
    ("H200", "bf16"): 989.4, ("H200", "fp32"): 66.9,
    ("A100", "bf16"): 312.0, ("A100", "fp32"): 19.5,
}
TOKENIZER_FILES = (
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model",
    "added_tokens.json", "vocab.json", "merges.txt", "chat_template.jinja",
)


# --- configuration -----------------------------------------------------------------------

def validate_hp(hp: dict, world_size: int = 1) -> dict:
    """Check a complete hyperparameter dict; errors name the ``hp.<key>``. Returns a copy."""
    missing = [k for k in HP_KEYS if k not in hp]
    if missing:
        raise WorkflowError(f"training hp: missing keys {missing} (fill them from config key cpt)")
    hp = dict(hp)

    def bad(key: str, why: str) -> WorkflowError:
        return WorkflowError(f"training hp.{key} = {hp[key]!r}: {why}")

    for key in ("global_batch_size", "micro_batch_size", "log_every"):
        if not isinstance(hp[key], int) or hp[key] < 1:
            raise bad(key, "must be a positive integer")
    if hp["steps"] is not None and (not isinstance(hp["steps"], int) or hp["steps"] < 1):
        raise bad("steps", "must be a positive integer or null (one pass)")
    if not isinstance(hp["warmup_steps"], int) or hp["warmup_steps"] < 0:
        raise bad("warmup_steps", "must be an integer >= 0")
    if not (isinstance(hp["lr"], (int, float)) and hp["lr"] > 0):
        raise bad("lr", "must be > 0")
    if not (isinstance(hp["min_lr"], (int, float)) and 0 <= hp["min_lr"] <= hp["lr"]):
        raise bad("min_lr", "must be between 0 and lr")
    betas = hp["betas"]
    if not (isinstance(betas, (list, tuple)) and len(betas) == 2 and all(0 <= b < 1 for b in betas)):
        raise bad("betas", "must be two numbers in [0, 1)")
    for key in ("eps", "weight_decay", "grad_clip"):
        if not (isinstance(hp[key], (int, float)) and hp[key] >= 0):
            raise bad(key, "must be a number >= 0")
    if not (isinstance(hp["dropout"], (int, float)) and 0 <= hp["dropout"] <= 1):
        raise bad("dropout", "must be in [0, 1]")
    if hp["precision"] not in ("fp32", "bf16"):
        raise bad("precision", "must be fp32 or bf16")
    if hp["zero_stage"] not in (0, 1, 2, 3):
        raise bad("zero_stage", "must be 0, 1, 2 or 3")
    if not isinstance(hp["seed"], int) or hp["seed"] < 0:
        raise bad("seed", "must be an integer >= 0")
    for key, default in HP_DEFAULTS.items():
        hp.setdefault(key, default)
    if not isinstance(hp["checkpoint_every"], int) or hp["checkpoint_every"] < 0:
        raise bad("checkpoint_every", "must be an integer >= 0 (0 = no resumable checkpoints)")
    if not isinstance(hp["activation_checkpointing"], bool):
        raise bad("activation_checkpointing", "must be true or false")
    if hp["peak_tflops"] is not None and not (
            isinstance(hp["peak_tflops"], (int, float)) and hp["peak_tflops"] > 0):
        raise bad("peak_tflops", "must be a positive number or null (from the device name)")
    per_step = hp["micro_batch_size"] * world_size
    if hp["global_batch_size"] % per_step:
        raise bad("global_batch_size", f"must be a multiple of micro_batch_size x devices = {per_step}")
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


def window_order(n_windows: int, n_samples: int, seed: int) -> np.ndarray:
    """``n_samples`` window indices: seeded permutations of all windows, one per pass."""
    rng = np.random.default_rng(seed)
    passes = -(-n_samples // n_windows)
    return np.concatenate([rng.permutation(n_windows) for _ in range(passes)])[:n_samples]


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


# --- distributed setup -------------------------------------------------------------------

def _free_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


def setup_distributed() -> int:
    """Give a run that no launcher started the env of a one-process group; returns the world
    size. On the CPU accelerator DeepSpeed's shared-memory all-reduce op (JIT-compiled on
    first use, ~1-3 min) is marked unavailable: torch.distributed (gloo) serves every
    collective, which is all the CPU path (tests, demo) needs."""
    if "WORLD_SIZE" not in os.environ:
        os.environ.update(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1")
        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
        os.environ.setdefault("MASTER_PORT", _free_port())
    world_size = int(os.environ["WORLD_SIZE"])
    if get_accelerator().device_name() == "cpu":
        # DeepSpeed's comm backend builds this op only when it is listed as compatible.
        deepspeed.ops.__compatible_ops__["deepspeed_shm_comm"] = False
    return world_size


# --- model -------------------------------------------------------------------------------

def build_model(tokenizer_dir: str | Path, dropout: float, architecture: dict | None = None,
                init_model: str | Path | None = None, logger=None):
    """A causal LM (any family, through the Auto classes): from ``init_model`` (HF dir), or
    from scratch with ``architecture`` (see families.demo_config; call set_seed first)."""
    if (architecture is None) == (init_model is None):
        raise WorkflowError("training: give exactly one of input model or params.architecture")
    if init_model is not None:
        return load_pretrained(init_model, dropout, logger)
    from transformers import AutoModelForCausalLM

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    return AutoModelForCausalLM.from_config(demo_config(architecture, tok, dropout, logger))


def copy_tokenizer_files(src: str | Path, dst: str | Path) -> None:
    copied = [n for n in TOKENIZER_FILES if (Path(src) / n).is_file()]
    if "tokenizer_config.json" not in copied:
        raise WorkflowError(f"{src}: no tokenizer_config.json (need an HF tokenizer directory)")
    for name in copied:
        shutil.copy2(Path(src) / name, Path(dst) / name)


def check_data(tokens: np.ndarray, meta: dict, meta_path, config) -> None:
    max_positions = getattr(config, "max_position_embeddings", None)  # None: any length
    if max_positions is not None and meta["window"] > max_positions:
        raise WorkflowError(
            f"{meta_path}: window {meta['window']} > the model's max_position_embeddings "
            f"{max_positions}"
        )
    top = int(tokens.max())
    if top >= config.vocab_size:
        raise WorkflowError(
            f"{meta_path}: token id {top} >= the model's vocab_size {config.vocab_size} "
            "(tokens made with another tokenizer?)"
        )


# --- training ----------------------------------------------------------------------------

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
    logger = logger or get_logger("train")
    world_size = setup_distributed()
    hp = validate_hp(hp, world_size)
    saved_threads = torch.get_num_threads()
    if threads and not torch.cuda.is_available():  # CPU run: use the job's threads
        torch.set_num_threads(max(1, min(int(threads), os.cpu_count() or 1)))
    stop = _StopOnSigterm()
    try:
        return _train(tokens_bin, meta_json, tokenizer_dir, out_dir, hp, architecture,
                      init_model, logger, world_size, metrics_csv, stop)
    finally:
        stop.restore()
        torch.set_num_threads(saved_threads)


class _StopOnSigterm:
    """Turns SIGTERM (SLURM's walltime warning, scancel) into a flag the loop reads after
    each optimizer step, so the run can checkpoint and stop cleanly. Main thread only."""

    def __init__(self):
        self.flag = False
        self._old = None
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, signum, frame):
        self.flag = True

    def restore(self):
        if self._old is not None:
            signal.signal(signal.SIGTERM, self._old)

    def any_rank(self, device, world_size: int) -> bool:
        """True on every rank when any rank got the signal (ranks must stop at one step)."""
        if world_size == 1:
            return self.flag
        flag = torch.tensor([float(self.flag)], device=device)
        torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
        return bool(flag.item())


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


def write_metrics(path, rows: list[dict]) -> None:
    with atomic_open(path, newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=LOG_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def _train(tokens_bin, meta_json, tokenizer_dir, out_dir, hp, architecture, init_model,
           logger, world_size, metrics_csv, stop) -> list[dict]:
    tokens = load_packed(tokens_bin, meta_json)
    meta = read_json(meta_json)
    n_windows, window = tokens.shape
    steps = total_steps(hp, n_windows)

    set_seed(hp["seed"])
    model = build_model(tokenizer_dir, hp["dropout"], architecture, init_model, logger)
    check_data(tokens, meta, meta_json, model.config)
    if hp["activation_checkpointing"]:  # recompute each layer's activations in backward
        if not model.supports_gradient_checkpointing:
            raise WorkflowError(
                f"cpt.activation_checkpointing: {type(model).__name__} does not support it; "
                "set it to false"
            )
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.config.use_cache = False
    n_params = model.num_parameters()  # tied weights once; before ZeRO-3 partitions them
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
    rank, micro = engine.global_rank, hp["micro_batch_size"]
    accum = engine.gradient_accumulation_steps()
    order = window_order(n_windows, steps * hp["global_batch_size"], hp["seed"])
    peak = peak_flops(hp, engine.device)
    logger.info(
        "training %s parameters for %d steps: %d windows x %d tokens, global batch %d = "
        "micro %d x accumulation %d x %d processes, zero %d, %s%s, device %s (peak %s)",
        f"{n_params:,}", steps, n_windows, window, hp["global_batch_size"], micro, accum,
        world_size, hp["zero_stage"], hp["precision"],
        ", activation checkpointing" if hp["activation_checkpointing"] else "", engine.device,
        f"{peak / 1e12:g} TFLOP/s" if peak else "unknown: no MFU",
    )

    rows: list[dict] = []
    resume_dir = resume_path(out_dir)
    fingerprint = {"hp": {k: hp[k] for k in sorted(hp)}, "n_windows": int(n_windows),
                   "init_model": str(init_model), "world_size": world_size}
    start = 0
    if hp["checkpoint_every"]:
        start, rows = resume(engine, resume_dir, fingerprint, logger)
    engine.train()
    loss_sum, loss_n, t_last, tokens_since = 0.0, 0, time.perf_counter(), 0
    bar = tqdm(total=steps, initial=start, desc="optimizer steps", unit="step",
               disable=rank != 0, mininterval=5.0, file=sys.stderr)
    for step in range(start, steps):
        lr = scheduler.get_last_lr()[0]
        batch = order[step * hp["global_batch_size"]:(step + 1) * hp["global_batch_size"]]
        mine = batch[rank * micro * accum:(rank + 1) * micro * accum]
        try:
            for m in range(accum):
                idx = np.sort(mine[m * micro:(m + 1) * micro])
                ids = torch.from_numpy(tokens[idx].astype(np.int64)).to(engine.device)
                loss = engine(input_ids=ids, labels=ids).loss
                if not torch.isfinite(loss):
                    raise WorkflowError(
                        f"training: loss is {loss.item()} at step {step + 1} (micro-batch {m + 1}); "
                        f"lower hp.lr ({hp['lr']}) or check the data {tokens_bin}"
                        + (f". The last good checkpoint stays in {resume_dir}"
                           if (resume_dir / "latest").is_file() else "")
                    )
                engine.backward(loss)
                engine.step()
                loss_sum += loss.item()
                loss_n += 1
        except (RuntimeError, MemoryError) as err:
            if is_out_of_memory(err):
                raise out_of_memory_error(err, step + 1, hp) from err
            raise
        tokens_since += hp["global_batch_size"] * window
        bar.update(1)
        if (step + 1) % hp["log_every"] == 0 or step + 1 == steps:
            elapsed = time.perf_counter() - t_last
            tokens_per_s = tokens_since / elapsed
            row = {"step": step + 1, "loss": loss_sum / loss_n, "lr": lr,
                   "tokens_per_s": tokens_per_s,
                   "mfu": 6 * n_params * tokens_per_s / (peak * world_size) if peak else None}
            rows.append(row)
            logger.info("step %d/%d loss %.4f lr %.3g %.0f tokens/s%s", row["step"], steps,
                        row["loss"], lr, tokens_per_s,
                        f" MFU {row['mfu']:.1%}" if row["mfu"] is not None else "")
            if metrics_csv and rank == 0:
                write_metrics(metrics_csv, rows)
            loss_sum, loss_n, tokens_since, t_last = 0.0, 0, 0, time.perf_counter()
        every = hp["checkpoint_every"]
        if stop.any_rank(engine.device, world_size) and step + 1 < steps:
            bar.close()
            if every:
                checkpoint(engine, resume_dir, step + 1, rows, fingerprint, logger)
            raise WorkflowError(
                f"training: stopped by SIGTERM after step {step + 1}/{steps}; "
                + (f"checkpoint saved in {resume_dir}: rerun the job to resume" if every else
                   "no checkpoint (cpt.checkpoint_every is 0): a rerun starts over")
            )
        if every and (step + 1) % every == 0 and step + 1 < steps:
            checkpoint(engine, resume_dir, step + 1, rows, fingerprint, logger)
    bar.close()

    save(engine, rows, tokenizer_dir, out_dir, rank, hp["zero_stage"])
    if rank == 0:
        shutil.rmtree(resume_dir, ignore_errors=True)  # the run is complete
    return rows


# --- resumable checkpoints ---------------------------------------------------------------

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


# --- launching ---------------------------------------------------------------------------

def processes_per_node(gpus: int, nodes: int) -> int:
    """Training processes per node for a job with ``gpus`` devices over ``nodes`` nodes
    (Snakemake resources ``gpu`` and ``nodes``; one process on a job without GPUs)."""
    if nodes < 1:
        raise WorkflowError(f"resources.nodes = {nodes}: must be >= 1")
    if gpus <= 1 and nodes == 1:
        return 1
    if gpus % nodes:
        raise WorkflowError(
            f"resources.gpu = {gpus} over resources.nodes = {nodes}: the GPUs must split "
            "evenly over the nodes (gpu is the job's total)"
        )
    return max(1, gpus // nodes)


def launch_command(spec_json: str | Path, procs_per_node: int, nodes: int = 1,
                   rendezvous: str | None = None, job_id: str = "wasurenai") -> list[str]:
    """The command that runs ``python -m wasurenai.train spec_json`` once per device.

    One node: ``torchrun --standalone``. Several nodes (``rendezvous`` = "host:port" on
    the first node, where this process runs): ``srun`` starts one torchrun per node of the
    SLURM allocation (``--overlap``: inside the job step Snakemake runs in), and they meet
    at a c10d rendezvous."""
    worker = ["-m", "wasurenai.train", str(spec_json)]
    run = [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={procs_per_node}"]
    if rendezvous is None:
        if nodes != 1:
            raise WorkflowError("training on several nodes needs a rendezvous host:port")
        return [*run, "--standalone", "--nnodes=1", *worker]
    return [
        "srun", "--overlap", f"--nodes={nodes}", f"--ntasks={nodes}", "--ntasks-per-node=1",
        "--kill-on-bad-exit=1", *run, f"--nnodes={nodes}", "--rdzv-backend=c10d",
        f"--rdzv-endpoint={rendezvous}", f"--rdzv-id={job_id}", *worker,
    ]


def launch(kwargs: dict, procs_per_node: int, nodes: int, log_path, logger,
           rendezvous: str | None = None) -> None:
    """Run ``train(**kwargs)`` in ``procs_per_node`` x ``nodes`` processes and wait; their
    output goes to ``log_path``. A failing process fails the job with the log's tail.
    Several nodes meet at ``rendezvous`` (default: a free port on this host, the first
    node); given for one node, it takes the several-node path (srun) there too."""
    if torch.cuda.is_available() and torch.cuda.device_count() < procs_per_node:
        raise WorkflowError(
            f"resources.gpu asks for {procs_per_node} GPUs per node but this node shows "
            f"{torch.cuda.device_count()} (CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')})"
        )
    out = Path(kwargs["out_dir"])
    spec = out.parent / f".{out.name}.launch.json"
    write_json(spec, kwargs)
    if nodes > 1 and rendezvous is None:
        rendezvous = f"{socket.gethostname()}:{_free_port()}"
    cmd = launch_command(spec, procs_per_node, nodes, rendezvous,
                         os.environ.get("SLURM_JOB_ID", "wasurenai"))
    logger.info("launching %d x %d processes (CUDA_VISIBLE_DEVICES=%s): %s", nodes,
                procs_per_node, os.environ.get("CUDA_VISIBLE_DEVICES", "unset"), " ".join(cmd))
    env = {k: v for k, v in os.environ.items()
           if k not in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")}
    package_root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    # SIGTERM here (SLURM signals every process of the job step) is passed on to torchrun,
    # which passes it to the workers; this process waits for them to checkpoint and stop.
    old_handler = None
    try:
        with open(log_path or os.devnull, "a", encoding="utf-8") as log:
            child = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
            if threading.current_thread() is threading.main_thread():
                old_handler = signal.signal(signal.SIGTERM,
                                            lambda *_: child.send_signal(signal.SIGTERM))
            code = child.wait()
    finally:
        if old_handler is not None:
            signal.signal(signal.SIGTERM, old_handler)
        spec.unlink(missing_ok=True)
    if code:
        tail = Path(log_path).read_text(encoding="utf-8", errors="replace")[-3000:] if log_path else ""
        raise WorkflowError(f"training: the launched processes failed (exit {code}):\n{tail}")


def main(smk) -> None:
    log_path = first_log(smk)
    logger = get_logger("train", log_path)
    init_model = getattr(smk.input, "model", None)
    architecture = getattr(smk.params, "architecture", None)
    metrics = getattr(smk.log, "metrics", None)
    kwargs = dict(
        tokens_bin=str(smk.input.tokens), meta_json=str(smk.input.meta),
        tokenizer_dir=str(smk.input.tokenizer), out_dir=str(smk.output[0]),
        hp=dict(smk.params.hp), architecture=dict(architecture) if architecture else None,
        init_model=str(init_model) if init_model else None,
        threads=getattr(smk, "threads", None), metrics_csv=str(metrics) if metrics else None,
    )
    resources = getattr(smk, "resources", None)
    nodes = int(getattr(resources, "nodes", 1) or 1)
    procs = processes_per_node(int(getattr(resources, "gpu", 0) or 0), nodes)
    if procs * nodes == 1:
        train(**kwargs, logger=logger)
    else:
        validate_hp(kwargs["hp"], procs * nodes)  # here, not in every launched process
        if kwargs["threads"]:  # the job's CPUs, shared by its processes
            kwargs["threads"] = max(1, int(kwargs["threads"]) // procs)
        launch(kwargs, procs, nodes, log_path, logger)


if __name__ == "__main__":  # one process of a launched run (see launch_command)
    train(**read_json(sys.argv[1]), logger=get_logger(f"train.rank{os.environ.get('RANK', 0)}"))
