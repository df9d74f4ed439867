"""Launching a training job: in this process for one device; for several (``resources:
gpu`` > 1, or ``nodes`` > 1) one process per device with torchrun (``python -m
torch.distributed.run``): ``--standalone`` on one node; on several nodes one torchrun per
node through ``srun`` with a c10d rendezvous on the first node. Each process runs
``python -m wasurenai.train <spec.json>``; DeepSpeed reads torchrun's RANK, LOCAL_RANK and
WORLD_SIZE.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import torch

from wasurenai.common import WorkflowError, get_logger, write_json
from wasurenai.jobs import TrainJob
from wasurenai.train.distributed import free_port
from wasurenai.train.hyperparameters import validate_hp
from wasurenai.train.loop import train_job

_free_port = free_port  # the name tests/test_slurm.py imports


def main(job: TrainJob) -> None:
    """Run a training job: here, or launched over its devices."""
    logger = get_logger("train", job.log)
    procs = processes_per_node(job.gpus, job.nodes)
    if procs * job.nodes == 1:
        train_job(job, logger)
        return
    validate_hp(job.hp, procs * job.nodes)  # here, not in every launched process
    kwargs = job.train_kwargs()
    if kwargs["threads"]:  # the job's CPUs, shared by its processes
        kwargs["threads"] = max(1, int(kwargs["threads"]) // procs)
    launch(kwargs, procs, job.nodes, job.log, logger)


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
        rendezvous = f"{socket.gethostname()}:{free_port()}"
    cmd = launch_command(spec, procs_per_node, nodes, rendezvous,
                         os.environ.get("SLURM_JOB_ID", "wasurenai"))
    logger.info("launching %d x %d processes (CUDA_VISIBLE_DEVICES=%s): %s", nodes,
                procs_per_node, os.environ.get("CUDA_VISIBLE_DEVICES", "unset"), " ".join(cmd))
    try:
        code = _run_workers(cmd, log_path)
    finally:
        spec.unlink(missing_ok=True)
    if code:
        tail = Path(log_path).read_text(encoding="utf-8", errors="replace")[-3000:] if log_path else ""
        raise WorkflowError(f"training: the launched processes failed (exit {code}):\n{tail}")


def _run_workers(cmd: list[str], log_path) -> int:
    """Run ``cmd`` (outside this process's process group env) and return its exit code.
    SIGTERM here (SLURM signals every process of the job step) is passed on to torchrun,
    which passes it to the workers; this process waits for them to checkpoint and stop."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")}
    old_handler = None
    try:
        with open(log_path or os.devnull, "a", encoding="utf-8") as log:
            child = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
            if threading.current_thread() is threading.main_thread():
                old_handler = signal.signal(signal.SIGTERM,
                                            lambda *_: child.send_signal(signal.SIGTERM))
            return child.wait()
    finally:
        if old_handler is not None:
            signal.signal(signal.SIGTERM, old_handler)
