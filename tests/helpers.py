"""Shared test helpers (imported by the tests; conftest.py holds the fixtures)."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

REPO = Path(__file__).resolve().parents[1]


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run this repo's Snakefile with `workdir` as the working directory."""
    cmd = [
        sys.executable, "-m", "snakemake",
        "--snakefile", str(REPO / "Snakefile"),
        "--directory", str(workdir),
        *args,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=workdir)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake failed ({proc.returncode}): {' '.join(cmd)}\n"
            f"{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}"
        )
    return proc


def job_counts(output: str) -> dict[str, int]:
    """Parse the 'Job stats' table of a Snakemake dry run into {rule: count}."""
    counts: dict[str, int] = {}
    if "Job stats:" not in output:
        return counts
    table = output.split("Job stats:", 1)[1]
    for line in table.splitlines()[3:]:
        m = re.match(r"^(\S+)\s+(\d+)$", line.strip())
        if not m:
            break
        if m.group(1) != "total":
            counts[m.group(1)] = int(m.group(2))
    return counts


# A tiny Llama and training hyperparameters for the training tests (CPU, seconds).
TINY_ARCH = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                 num_key_value_heads=2, max_position_embeddings=64)
TINY_HP = dict(lr=5e-3, min_lr=5e-4, warmup_steps=2, betas=[0.9, 0.95], eps=1e-8, weight_decay=0.01,
               grad_clip=1.0, dropout=0.1, global_batch_size=8, micro_batch_size=4, steps=12,
               seed=0, precision="fp32", zero_stage=0, log_every=3)


def tiny_training_data(root: Path) -> SimpleNamespace:
    """A byte-level BPE (300 ids) and 32-token windows of a repetitive, learnable text
    under ``root``: tok/, t.bin, t.json."""
    from wasurenai.demo_models import train_tokenizer
    from wasurenai.packing import pack_tokens

    texts = [f"### 入力:\n猫が{i % 9}匹います。\n\n### 応答:\nThere are {i % 9} cats."
             for i in range(400)]
    train_tokenizer(texts[:200], 300, root / "tok")
    (root / "t.jsonl").write_text(
        "".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in texts), encoding="utf-8")
    meta = pack_tokens(root / "t.jsonl", root / "tok", root / "t.bin", root / "t.json", 32)
    assert meta["n_windows"] >= 100
    return SimpleNamespace(root=root, tok=root / "tok", bin=root / "t.bin", meta=root / "t.json")
