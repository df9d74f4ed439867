"""The process group of a run: torchrun's environment, or a one-process group's."""
from __future__ import annotations

import os
import socket

import deepspeed
import deepspeed.ops
from deepspeed.accelerator import get_accelerator


def free_port() -> str:
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
        os.environ.setdefault("MASTER_PORT", free_port())
    world_size = int(os.environ["WORLD_SIZE"])
    if get_accelerator().device_name() == "cpu":
        # DeepSpeed's comm backend builds this op only when it is listed as compatible.
        deepspeed.ops.__compatible_ops__["deepspeed_shm_comm"] = False
    return world_size
