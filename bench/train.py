"""DeepSpeed step throughput vs a plain PyTorch loop, on the demo's tiny model, CPU.

Run from the repo root: ``python bench/train.py``. Both sides train the demo architecture
(hidden 128, 4 layers, 1.37M parameters with the demo vocabulary) from the same seed on the
same packed 256-token windows, batch 16, fp32, AdamW, clipping 1.0, dropout 0:
``wasurenai.train.train`` (deepspeed.initialize, ZeRO 0, the workflow's loop) against a
hand-written ``loss.backward(); clip; optimizer.step()`` loop. Throughput is taken from
steps after the first few (warm-up excluded). Writes bench/results/train.json.
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from wasurenai.common import write_json  # noqa: E402
from wasurenai.demo_models import train_tokenizer  # noqa: E402
from wasurenai.packing import load_packed, pack_tokens  # noqa: E402
from wasurenai.train import build_model, train, window_order  # noqa: E402

ARCH = dict(hidden_size=128, intermediate_size=384, num_hidden_layers=4, num_attention_heads=4,
            num_key_value_heads=4, max_position_embeddings=512)
STEPS, WARM, BATCH, WINDOW = 40, 5, 16, 256
HP = dict(lr=1e-3, min_lr=1e-4, warmup_steps=5, betas=[0.9, 0.95], eps=1e-8, weight_decay=0.0,
          grad_clip=1.0, dropout=0.0, global_batch_size=BATCH, micro_batch_size=BATCH,
          steps=STEPS, seed=0, precision="fp32", zero_stage=0, log_every=WARM)


def texts(n: int) -> list[str]:
    return [f"### 入力:\n猫が{i % 97}匹います。本を{i % 13}冊読む。\n\n### 応答:\n"
            f"There are {i % 97} cats. I read {i % 13} books." for i in range(n)]


def plain_loop(data, tok) -> float:
    """tokens/s of a plain PyTorch loop over the same model, data order and optimizer."""
    tokens = load_packed(data / "t.bin", data / "t.json")
    torch.manual_seed(0)
    model = build_model(tok, 0.0, ARCH, None)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=HP["lr"], betas=tuple(HP["betas"]), eps=HP["eps"])
    order = window_order(len(tokens), STEPS * BATCH, 0)
    t0 = None
    for step in range(STEPS):
        if step == WARM:
            t0 = time.perf_counter()
        idx = np.sort(order[step * BATCH:(step + 1) * BATCH])
        ids = torch.from_numpy(tokens[idx].astype(np.int64))
        loss = model(input_ids=ids, labels=ids).loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), HP["grad_clip"])
        opt.step()
    return (STEPS - WARM) * BATCH * WINDOW / (time.perf_counter() - t0)


def main() -> None:
    threads = torch.get_num_threads()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        train_tokenizer(texts(500), 1000, data / "tok")
        (data / "t.jsonl").write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n"
                                              for t in texts(4000)), encoding="utf-8")
        pack_tokens(data / "t.jsonl", data / "tok", data / "t.bin", data / "t.json", WINDOW)
        plain = plain_loop(data, data / "tok")
        rows = train(data / "t.bin", data / "t.json", data / "tok", data / "out", HP,
                     architecture=ARCH, threads=threads)
        ds = float(np.mean([r["tokens_per_s"] for r in rows[1:]]))  # rows after warm-up
    result = {"threads": threads, "steps": STEPS, "batch": BATCH, "window": WINDOW,
              "tokens_per_s": {"deepspeed": ds, "plain_pytorch": plain}, "ratio": ds / plain}
    print(f"DeepSpeed {ds:.0f} tokens/s vs plain PyTorch {plain:.0f} tokens/s: {ds / plain:.2f}x")
    write_json(ROOT / "bench" / "results" / "train.json", result)


if __name__ == "__main__":
    main()
