"""bench/gpu.sh: the one-GPU check, run end to end at its toy scale on the CPU (the same code
path: synthetic data, CPT through DeepSpeed with the paper's settings, an in-memory merge of
three models, batched greedy generation); its one JSON line is complete and sane."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest

from helpers import REPO

sys.path.insert(0, str(REPO))
import bench.gpu as G  # noqa: E402


def llama_parameters(shape: dict) -> int:
    """Parameters of an untied Llama: embeddings and head, attention, MLP and norms."""
    h, i, layers, v = shape["hidden_size"], shape["intermediate_size"], shape["num_hidden_layers"], shape["vocab_size"]
    q = shape["num_attention_heads"] * shape["head_dim"]
    kv = shape["num_key_value_heads"] * shape["head_dim"]
    return 2 * v * h + layers * (2 * h * q + 2 * h * kv + 3 * h * i + 2 * h) + h


def test_the_full_shape_is_llm_jp_3_3_7b():
    assert llama_parameters({**G.SHAPE, "vocab_size": G.VOCAB}) == 3_782_913_024  # README: 3.78B


def test_a_bad_peak_override_names_the_variable(monkeypatch):
    monkeypatch.setenv(G.PEAK_ENV, "fast")
    with pytest.raises(SystemExit, match=G.PEAK_ENV):
        G.peak_tflops_override()


def test_tiny_run_prints_one_sane_json_line(tmp_path):
    result_file = REPO / "bench" / "results" / "gpu.json"
    before = result_file.stat().st_mtime_ns if result_file.exists() else None
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", WASURENAI_PEAK_TFLOPS="1.0")
    proc = subprocess.run(["bash", str(REPO / "bench" / "gpu.sh"), "--tiny", "--workdir", str(tmp_path)],
                          capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert len(lines) == 1, proc.stdout[-2000:]  # the libraries' own output went to stderr
    r = json.loads(lines[0])
    assert (r["tiny"], r["device"], r["measured_on_gpu"]) == (True, "cpu", False)
    assert r["n_params"] == llama_parameters(r["shape"])
    t = r["train"]
    assert (t["precision"], t["zero_stage"], t["micro_batch_size"], t["dropout"]) == ("bf16", 2, 4, 0.1)
    assert t["tokens_per_s"] > 0 and all(math.isfinite(x) for x in t["loss"])
    assert t["peak_tflops"] == 1.0 and 0 < t["mfu"] <= 1
    assert t["mfu"] == pytest.approx(6 * r["n_params"] * t["tokens_per_s"] / 1e12)
    assert t["mfu"] == pytest.approx(sum(t["loop_mfu"]) / len(t["loop_mfu"]))  # the loop's own rows
    assert t["peak_gpu_memory_gib"] is None
    m = r["merge"]
    assert (m["method"], m["models"]) == ("linear", 3) and m["check_max_abs_diff"] < 1e-3
    g = r["generate"]
    assert (g["datasets"], g["prompts"]) == (12, 24) and g["samples_per_s"] > 0
    assert r["total_s"] > t["seconds"] + m["seconds"] + g["seconds"]
    assert list(tmp_path.iterdir()) == []  # the scratch models are gone
    after = result_file.stat().st_mtime_ns if result_file.exists() else None
    assert after == before  # figures of a CPU run are never written as GPU results
