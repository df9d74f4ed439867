"""Merge speed and memory: mergekit's linear merge of three >= 3 GB models against an I/O floor.

Run from the repo root: ``python bench/merge.py`` (``--help`` for options; ~20 min with the
models already generated, +1-2 min to generate them). Three random Llama-architecture HF
model dirs (fp32 safetensors, hidden 2048, 14 layers, 3.40 GB each, a tiny tokenizer) are
generated once under ``--workdir`` and reused. They are laid out as transformers'
``save_pretrained`` lays them out: shards of at most 5 GB, so one ``model.safetensors``
per model, as our CPT models are saved. A second set, sharded at ``--sharded-inputs`` GB,
shows the effect of the input layout on memory.

Each measurement runs in a fresh interpreter, best of ``--repeats``, runs interleaved,
with the inputs in the page cache (read once beforehand; the resident fraction is checked
with fincore before every run and recorded; nothing drops the cache):

- ``floor``: read every tensor of the three inputs through ``safetensors.safe_open``
  (copied out of the page cache into one reused buffer) and stream one output file of the
  same tensors and size; no arithmetic, no fsync.
- ``api:<variant>``: our path, ``wasurenai.merge.mergekit_config`` then
  ``mergekit.merge.run_merge`` with the variant's ``MergeOptions`` (and environment);
  ``merge_s`` is timed inside the process after the imports (``import_s``).
  ``api:wrapper`` calls ``wasurenai.merge.run_merge`` itself: the workflow as it is.
- ``cli:<variant>``: mergekit-yaml's entry point (``mergekit.scripts.run_yaml.main``) on the
  identical YAML with the same options as flags, timed the same way.

Peak memory is sampled from /proc/<pid>/status every 10 ms: VmHWM (what ``time -v``
reports as maximum resident set size), and RssAnon / RssFile separately: safetensors 0.5
hands out tensors that point into an mmap of the input file, so input pages a process has
touched count in its RSS (RssFile, clean page cache) for as long as the file is open.
Every merged output is checked (one tensor against the weighted mean; tokenizer copied).
Writes bench/results/merge.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parents[1]

ROLES = ("base", "ja-en", "en-ja")
SPEC = {"method": "linear", "weights": {"base": 0.4, "ja-en": 0.3, "en-ja": 0.3}}
GB = 1000 ** 3
MIB = 1024 ** 2

# MergeOptions common to every variant: what the wrapper passes today.
COMMON = {"device": "cpu", "random_seed": 0, "copy_tokenizer": True, "lazy_unpickle": False,
          "allow_crimes": False, "trust_remote_code": False, "write_model_card": False,
          "safe_serialization": True, "quiet": True}
# THP_MEM_ALLOC_ENABLE=1: torch's CPU allocator 2 MB-aligns allocations >= 2 MB and
# madvise(MADV_HUGEPAGE)s them, so each fresh tensor costs 1/512 of the page faults.
THP = {"THP_MEM_ALLOC_ENABLE": "1"}
# glibc: never mmap, never trim: freed tensors are reused without faulting pages again.
NO_MMAP = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(1 << 40)}
# name -> (MergeOptions beyond COMMON, environment)
VARIANTS = {
    "defaults": ({}, {}),  # mergekit's out_shard_size 5B: the wrapper today
    "shard400M": ({"out_shard_size": 400_000_000}, {}),
    "shard400M_async": ({"out_shard_size": 400_000_000, "async_write": True}, {}),
    "shard400M_thp": ({"out_shard_size": 400_000_000}, THP),
    "shard1G_thp": ({"out_shard_size": 1_000_000_000}, THP),
    "shard400M_thp_nommap": ({"out_shard_size": 400_000_000}, {**THP, **NO_MMAP}),
}
RECOMMENDED = "shard400M_thp"


# --------------------------------------------------------------------------- model generation

def llama_config(hidden: int, layers: int, vocab: int):
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=vocab, hidden_size=hidden, intermediate_size=int(hidden * 2.75),
        num_hidden_layers=layers, num_attention_heads=hidden // 64,
        num_key_value_heads=hidden // 64, max_position_embeddings=2048, tie_word_embeddings=False,
        bos_token_id=0, eos_token_id=1, pad_token_id=2, torch_dtype="float32",
        architectures=["LlamaForCausalLM"],
    )


def param_shapes(cfg) -> list[tuple[str, tuple[int, ...]]]:
    """LlamaForCausalLM's parameters in state-dict (module) order."""
    h, i, v = cfg.hidden_size, cfg.intermediate_size, cfg.vocab_size
    kv = cfg.num_key_value_heads * (h // cfg.num_attention_heads)
    shapes = [("model.embed_tokens.weight", (v, h))]
    for n in range(cfg.num_hidden_layers):
        p = f"model.layers.{n}."
        shapes += [(p + "self_attn.q_proj.weight", (h, h)), (p + "self_attn.k_proj.weight", (kv, h)),
                   (p + "self_attn.v_proj.weight", (kv, h)), (p + "self_attn.o_proj.weight", (h, h)),
                   (p + "mlp.gate_proj.weight", (i, h)), (p + "mlp.up_proj.weight", (i, h)),
                   (p + "mlp.down_proj.weight", (h, i)), (p + "input_layernorm.weight", (h,)),
                   (p + "post_attention_layernorm.weight", (h,))]
    return shapes + [("model.norm.weight", (h,)), ("lm_head.weight", (v, h))]


def nbytes(shape) -> int:
    n = 4
    for d in shape:
        n *= d
    return n


def write_safetensors(path: Path, shapes: list[tuple[str, tuple]], make_tensor) -> None:
    """Stream one fp32 safetensors file, tensors in name order as ``save_file`` lays them out;
    only one tensor is in memory at a time."""
    shapes = sorted(shapes)
    header, offset = {}, 0
    for name, shape in shapes:
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [offset, offset + nbytes(shape)]}
        offset += nbytes(shape)
    header["__metadata__"] = {"format": "pt"}
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as fh:
        fh.write(len(raw).to_bytes(8, "little"))
        fh.write(raw)
        for name, shape in shapes:
            fh.write(memoryview(make_tensor(name, shape).numpy()).cast("B"))
    tmp.replace(path)


def generate_model(out: Path, seed: int, cfg, shard_size: int) -> None:
    """A random HF model dir: config.json, a tiny tokenizer, fp32 safetensors shards split
    like transformers' save_pretrained (module order, at most ``shard_size`` bytes each)."""
    import torch
    from tests.helpers_eval import build_tokenizer

    if (out / "done").is_file():
        return
    out.mkdir(parents=True, exist_ok=True)
    cfg.save_pretrained(out)
    build_tokenizer(out)
    shards, size = [[]], 0
    for name, shape in param_shapes(cfg):
        if shards[-1] and size + nbytes(shape) > shard_size:
            shards.append([])
            size = 0
        shards[-1].append((name, shape))
        size += nbytes(shape)
    names = (["model.safetensors"] if len(shards) == 1 else
             [f"model-{k + 1:05d}-of-{len(shards):05d}.safetensors" for k in range(len(shards))])
    index = {name: names[k] for k, shard in enumerate(shards) for name, _ in shard}

    def make_tensor(name, shape):
        g = torch.Generator().manual_seed(seed * 100_003 + sorted(index).index(name))
        if len(shape) == 1:
            return torch.ones(shape) + 0.01 * torch.randn(shape, generator=g)
        return torch.randn(shape, generator=g).mul_(0.02)

    for fname, shard in zip(names, shards):
        write_safetensors(out / fname, shard, make_tensor)
    if len(shards) > 1:
        total = sum(nbytes(s) for _, s in param_shapes(cfg))
        (out / "model.safetensors.index.json").write_text(json.dumps(
            {"metadata": {"total_size": total}, "weight_map": index}, indent=2))
    (out / "done").write_text("ok\n")


def model_files(model_dir: Path) -> list[Path]:
    return sorted(model_dir.glob("*.safetensors"))


def dir_bytes(path: Path, pattern: str = "*.safetensors") -> int:
    return sum(p.stat().st_size for p in Path(path).glob(pattern))


def warm_cache(files: list[Path]) -> float:
    """Read the files once so they sit in the page cache; seconds taken."""
    start = time.perf_counter()
    buf = bytearray(64 * MIB)
    for path in files:
        with open(path, "rb", buffering=0) as fh:
            while fh.readinto(buf):
                pass
    return time.perf_counter() - start


def cached_fraction(files: list[Path]) -> float | None:
    """Fraction of the files' bytes resident in the page cache (util-linux fincore)."""
    if not shutil.which("fincore"):
        return None
    out = subprocess.run(["fincore", "--bytes", "--noheadings", "--output", "RES,SIZE", *map(str, files)],
                         capture_output=True, text=True)
    if out.returncode:
        return None
    res = size = 0
    for line in out.stdout.split("\n"):
        if line.strip():
            r, s = line.split()
            res, size = res + int(r), size + int(s)
    return res / size if size else None


# --------------------------------------------------------------------------- children

FLOOR = r"""
import glob, json, os, sys, time
t0 = time.perf_counter()
import torch
from safetensors import safe_open
import_s = time.perf_counter() - t0
models, out = json.loads(sys.argv[1]), sys.argv[2]
start = time.perf_counter()
index = []  # tensor name -> shard file, per model
for d in models:
    idx = {}
    for f in sorted(glob.glob(os.path.join(d, "*.safetensors"))):
        with safe_open(f, "pt") as st:
            idx.update({k: f for k in st.keys()})
    index.append(idx)
names = sorted(index[0])
header, off = {}, 0
for n in names:
    with safe_open(index[0][n], "pt") as st:
        sl = st.get_slice(n)
        shape, dtype = sl.get_shape(), sl.get_dtype()
    size = {"F32": 4, "BF16": 2, "F16": 2}[dtype]
    for d in shape:
        size *= d
    header[n] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + size]}
    off += size
header["__metadata__"] = {"format": "pt"}
raw = json.dumps(header, separators=(",", ":")).encode()
raw += b" " * (-len(raw) % 8)
largest = max(h["data_offsets"][1] - h["data_offsets"][0] for k, h in header.items() if k != "__metadata__")
buf = torch.empty(largest, dtype=torch.uint8)  # one reused read buffer
with open(os.path.join(out, "model.safetensors"), "wb") as fh:
    fh.write(len(raw).to_bytes(8, "little"))
    fh.write(raw)
    for n in names:
        for k, idx in enumerate(index):
            # opened per tensor, so the mapping (and its pages in our RSS) goes at once
            with safe_open(idx[n], "pt") as st:
                t = st.get_tensor(n).reshape(-1).view(torch.uint8)
                view = buf[: t.numel()]
                view.copy_(t)  # the read: bytes copied out of the page cache
                del t
            if k == 0:
                fh.write(memoryview(view.numpy()))
merge_s = time.perf_counter() - start
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({"import_s": import_s, "merge_s": merge_s, "vmhwm_kib": hwm}))
"""

API = r"""
import json, sys, time
t0 = time.perf_counter()
from wasurenai import merge as wm
if json.loads(sys.argv[4]) is None:  # the workflow's wrapper: a merge job's environment too
    wm.job_environment()
import torch
from mergekit.config import MergeConfiguration
from mergekit.merge import MergeOptions, run_merge
import_s = time.perf_counter() - t0
spec, models, out, opts = (json.loads(a) for a in sys.argv[1:5])
start = time.perf_counter()
config = wm.mergekit_config("bench", spec, models)
if opts is None:  # the workflow's own wrapper, as it is
    wm.run_merge(config, out, seed=0, threads=torch.get_num_threads())
else:
    run_merge(MergeConfiguration.model_validate(config), out, MergeOptions(**opts))
merge_s = time.perf_counter() - start
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({"import_s": import_s, "merge_s": merge_s, "vmhwm_kib": hwm}))
"""

CLI = r"""
import json, sys, time
t0 = time.perf_counter()
from mergekit.scripts.run_yaml import main  # what the mergekit-yaml console script runs
import_s = time.perf_counter() - t0
start = time.perf_counter()
main(args=sys.argv[1:], standalone_mode=False)
merge_s = time.perf_counter() - start
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({"import_s": import_s, "merge_s": merge_s, "vmhwm_kib": hwm}))
"""


def sample_memory(pid: int, stop: threading.Event, peaks: dict) -> None:
    """Poll /proc/<pid>/status: peak VmHWM, RssAnon, RssFile, VmRSS (kB)."""
    path = f"/proc/{pid}/status"
    while not stop.is_set():
        try:
            with open(path) as fh:
                for line in fh:
                    key = line.split(":", 1)[0]
                    if key in ("VmHWM", "VmRSS", "RssAnon", "RssFile"):
                        peaks[key] = max(peaks.get(key, 0), int(line.split()[1]))
        except (FileNotFoundError, ProcessLookupError, ValueError):
            pass
        stop.wait(0.01)


def run_child(cmd: list[str], env: dict | None = None) -> dict:
    """Run ``cmd``; wall time, its peak memory (MiB) and the JSON line it printed, if any."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})
    peaks: dict = {}
    stop = threading.Event()
    sampler = threading.Thread(target=sample_memory, args=(proc.pid, stop, peaks), daemon=True)
    sampler.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - start
    stop.set()
    sampler.join()
    if proc.returncode:
        raise RuntimeError(f"{cmd[:3]} failed ({proc.returncode}):\n{err[-3000:]}")
    result = {"wall_s": wall,
              "peak_rss_mib": peaks.get("VmHWM", 0) / 1024,
              "peak_rss_anon_mib": peaks.get("RssAnon", 0) / 1024,
              "peak_rss_file_mib": peaks.get("RssFile", 0) / 1024}
    lines = [line for line in out.strip().splitlines() if line.startswith("{")]
    if lines:
        result.update(json.loads(lines[-1]))
        # the child's own VmHWM at its end: the peak even if it fell between two samples
        result["peak_rss_mib"] = max(result["peak_rss_mib"], result.pop("vmhwm_kib") / 1024)
    return result


def check_output(out: Path, models: dict) -> str:
    """The merged model.norm.weight must be the normalised weighted mean of the inputs'."""
    import torch
    from safetensors import safe_open

    def load(d):
        for f in model_files(Path(d)):
            with safe_open(f, "pt") as st:
                if "model.norm.weight" in st.keys():
                    return st.get_tensor("model.norm.weight").clone()
        raise RuntimeError(f"no model.norm.weight in {d}")

    w = SPEC["weights"]
    want = sum(w[r] * load(models[r]) for r in ROLES) / sum(w.values())
    got = load(out)
    if not torch.allclose(got, want, atol=1e-6):
        raise RuntimeError(f"{out}: merged model.norm.weight differs from the weighted mean")
    if not (out / "tokenizer_config.json").is_file():
        raise RuntimeError(f"{out}: no tokenizer copied")
    return "ok"


def cli_flags(opts: dict) -> list[str]:
    flags = []
    for key, value in opts.items():
        if key in ("random_seed",):
            flags += ["--random-seed", str(value)]
        elif key == "device":
            flags += ["--device", value]
        elif isinstance(value, bool):
            flags.append(f"--{key.replace('_', '-')}" if value else f"--no-{key.replace('_', '-')}")
        else:
            flags += [f"--{key.replace('_', '-')}", str(value)]
    return flags


# --------------------------------------------------------------------------- main

def make_models(work: Path, cfg, args, shard_gb: float) -> dict[str, Path]:
    tag = f"h{args.hidden}-l{args.layers}-v{args.vocab}-s{shard_gb:g}"
    models = {role: work / f"{tag}-{role}" for role in ROLES}
    for seed, path in enumerate(models.values()):
        if not (path / "done").is_file():
            print(f"generating {path} ...", flush=True)
        generate_model(path, seed, cfg, int(shard_gb * GB))
    return models


def measure(names: list[str], models: dict[str, Path], work: Path, repeats: int) -> dict:
    """Run each of ``names`` ``repeats`` times, interleaved; the best of each, and all runs."""
    inputs = [f for p in models.values() for f in model_files(p)]
    input_bytes = dir_bytes(models["base"])
    warm_s = warm_cache(inputs)
    print(f"inputs: 3 x {input_bytes / GB:.2f} GB, {len(model_files(models['base']))} file(s) each; "
          f"page cache warmed in {warm_s:.1f} s, resident {cached_fraction(inputs):.0%}", flush=True)
    from wasurenai.merge import config_yaml, mergekit_config  # imports mergekit (parent only)

    yaml_path = work / "merge.yml"
    yaml_path.write_text(config_yaml("bench", SPEC, mergekit_config("bench", SPEC, models), models))
    out = work / "out"
    models_json = json.dumps({k: str(v) for k, v in models.items()})

    def job(name: str) -> tuple[list[str], dict]:
        if name == "floor":
            return [sys.executable, "-c", FLOOR, json.dumps([str(p) for p in models.values()]), str(out)], {}
        kind, variant = name.split(":", 1)
        if variant == "wrapper":
            return [sys.executable, "-c", API, json.dumps(SPEC), models_json,
                    json.dumps(str(out)), "null"], {}
        opts, env = VARIANTS[variant]
        opts = {**COMMON, **opts}
        if kind == "api":
            return [sys.executable, "-c", API, json.dumps(SPEC), models_json,
                    json.dumps(str(out)), json.dumps(opts)], env
        return [sys.executable, "-c", CLI, str(yaml_path), str(out), *cli_flags(opts)], env

    runs: dict[str, list] = {}
    for rep in range(repeats):
        for name in names:
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir(parents=True)
            os.sync()  # the previous run's dirty output pages are not this run's cost
            resident = cached_fraction(inputs)
            cmd, env = job(name)
            r = run_child(cmd, env)
            r["output_bytes"] = dir_bytes(out)
            r["output_files"] = len(model_files(out))
            r["inputs_resident_before"] = resident
            if name != "floor":
                r["check"] = check_output(out, models)
            runs.setdefault(name, []).append(r)
            print(f"[{rep + 1}/{repeats}] {name:26s} merge {r['merge_s']:5.1f} s (import "
                  f"{r['import_s']:4.1f} s)  peak RSS {r['peak_rss_mib']:6.0f} MiB (anon "
                  f"{r['peak_rss_anon_mib']:5.0f}, file {r['peak_rss_file_mib']:5.0f})  "
                  f"out {r['output_bytes'] / GB:.2f} GB/{r['output_files']}  cached {resident:.0%}",
                  flush=True)
    shutil.rmtree(out, ignore_errors=True)

    keys = ("merge_s", "import_s", "wall_s", "peak_rss_mib", "peak_rss_anon_mib", "peak_rss_file_mib")
    summary = {}
    for name, rs in runs.items():
        b = {k: min(r[k] for r in rs) for k in keys}
        summary[name] = b
    floor = summary["floor"]
    for name, b in summary.items():
        b["peak_rss_vs_input"] = b["peak_rss_mib"] * MIB / input_bytes
        b["peak_rss_anon_vs_input"] = b["peak_rss_anon_mib"] * MIB / input_bytes
        if name == "floor":
            continue
        b["merge_vs_floor"] = b["merge_s"] / floor["merge_s"]
        kind, variant = name.split(":", 1)
        if variant == "wrapper":
            b["options"] = "wasurenai.merge.run_merge as it is (mergekit's out_shard_size 5B)"
        else:
            opts, env = VARIANTS[variant]
            b["options"], b["env"] = {**COMMON, **opts}, env
            if kind == "cli":
                b["command"] = " ".join([*(f"{k}={v}" for k, v in env.items()), "mergekit-yaml merge.yml OUT",
                                         *cli_flags({**COMMON, **opts})])
    for name, b in summary.items():
        if name.startswith("api:") and f"cli:{name[4:]}" in summary:
            b["merge_vs_cli_same_options"] = b["merge_s"] / summary[f"cli:{name[4:]}"]["merge_s"]
    clis = [n for n in summary if n.startswith("cli:")]
    return {
        "input_bytes_each": input_bytes, "input_files_each": len(model_files(models["base"])),
        "dirs": {k: str(v) for k, v in models.items()},
        "page_cache": {"warm_read_s": warm_s,
                       "inputs_resident_before_runs_min": min(r["inputs_resident_before"] or 0
                                                               for rs in runs.values() for r in rs)},
        "best": summary, "cli_fastest": min(clis, key=lambda n: summary[n]["merge_s"]) if clis else None,
        "runs": runs,
    }


def verdict(res: dict, name: str) -> dict:
    b, best = res["best"][name], res["best"]
    cli = res["cli_fastest"]
    same = f"cli:{name[4:]}" if f"cli:{name[4:]}" in best else None
    return {
        "variant": name, "merge_s": b["merge_s"], "floor_s": best["floor"]["merge_s"],
        "merge_vs_floor": b["merge_vs_floor"], "time_target_met": b["merge_vs_floor"] <= 1.5,
        "fastest_cli": cli, "vs_fastest_cli": b["merge_s"] / best[cli]["merge_s"] if cli else None,
        "vs_cli_same_options": b["merge_s"] / best[same]["merge_s"] if same else None,
        "not_slower_than_fastest_cli": b["merge_s"] <= best[cli]["merge_s"] if cli else None,
        "peak_rss_vs_input": b["peak_rss_vs_input"], "rss_target_met": b["peak_rss_vs_input"] <= 1.5,
        "peak_rss_anon_vs_input": b["peak_rss_anon_vs_input"],
        "anon_rss_target_met": b["peak_rss_anon_vs_input"] <= 1.5,
    }


ANALYSIS = {
    "rss_file": "mergekit/io/lazy_tensor_loader.py LazyTensorLoader.get_tensor keeps each model's "
                "current shard open (a safetensors.safe_open mmap) until a tensor of another shard "
                "is asked for; LoaderCache.flush_all() is not called while the Executor runs. "
                "safetensors 0.5 get_tensor returns tensors that point into that mmap, so every input "
                "page read stays in the process's RSS (RssFile, clean page cache): with one-file "
                "inputs, all three inputs (~3 x input size). No MergeOptions changes this "
                "(lazy_unpickle only affects .bin files; read_to_gpu/low_cpu_memory need a GPU). "
                "Inputs saved in smaller shards (save_pretrained(max_shard_size=...)) bound it to "
                "~3 x the shard size.",
    "rss_anon": "io/tensor_writer.py TensorWriter buffers output tensors until out_shard_size BYTES "
                "(default 5e9 > the 3.4 GB output, so the whole output), then "
                "safetensors.torch.save_file copies the shard once more (_tobytes): ~2 x output. "
                "out_shard_size=400M bounds that; what remains (~2.3 GiB) is LinearMergeTask on "
                "the 262 MB embed/lm_head: torch.stack (3x) + weights*tensors (3x) + sum + divide.",
    "time": "merge_methods/linear.py LinearMergeTask: stack, multiply, sum, divide each allocate "
            "a fresh tensor (~6 passes over 3 inputs' worth of data vs the floor's one copy) and "
            "glibc hands tensors > 32 MB back to the OS on free, so each pass page-faults fresh "
            "4 KB pages; then save_file copies each shard to bytes before writing. "
            "THP_MEM_ALLOC_ENABLE=1 (torch's allocator madvises 2 MB huge pages) removes most of "
            "the fault cost; glibc MALLOC_MMAP_MAX_=0 removes more but keeps ~1 GiB more anon "
            "memory. The arithmetic and the extra copy remain: options cannot bring mergekit "
            "within 1.5 x the floor.",
    "cli_vs_api": "mergekit-yaml's main() builds the same MergeOptions and calls the same "
                  "run_merge; with the same options and environment the two differ only by noise "
                  "(2 shared cores).",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/bench_merge"))
    ap.add_argument("--hidden", type=int, default=2048)
    ap.add_argument("--layers", type=int, default=14, help="14 layers at hidden 2048: 3.40 GB fp32")
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--variants", default="wrapper," + ",".join(VARIANTS),
                    help=f"API variants: 'wrapper' and any of {', '.join(VARIANTS)}")
    ap.add_argument("--cli-variants", default=f"shard400M,{RECOMMENDED}",
                    help="variants also run through mergekit-yaml's entry point")
    ap.add_argument("--sharded-inputs", type=float, default=1.0,
                    help="also run floor, wrapper and the recommended variant on inputs sharded at "
                         "this many GB (0: skip)")
    ap.add_argument("--clean", action="store_true", help="delete the generated models afterwards")
    ap.add_argument("--generate-only", action="store_true")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "merge.json")
    args = ap.parse_args()

    from wasurenai.common import write_json

    work = args.workdir
    cfg = llama_config(args.hidden, args.layers, args.vocab)
    t0 = time.perf_counter()
    layouts = {"single_file": make_models(work, cfg, args, 5.0)}  # save_pretrained's 5 GB shards
    if args.sharded_inputs:
        layouts[f"sharded_{args.sharded_inputs:g}GB"] = make_models(work, cfg, args, args.sharded_inputs)
    print(f"models generated/checked in {time.perf_counter() - t0:.0f} s", flush=True)
    if args.generate_only:
        return

    startup = run_child([str(Path(sys.executable).with_name("mergekit-yaml")), "--help"])["wall_s"]
    names = ["floor"] + [f"api:{v}" for v in args.variants.split(",") if v] + \
            [f"cli:{v}" for v in args.cli_variants.split(",") if v]
    results = {}
    for layout, models in layouts.items():
        print(f"== inputs: {layout}", flush=True)
        todo = names if layout == "single_file" else ["floor", "api:wrapper", f"api:{RECOMMENDED}"]
        results[layout] = measure(todo, models, work, args.repeats)

    result = {
        "goal": {"time": "merge_s <= 1.5 x floor merge_s, and not slower than mergekit-yaml (same YAML)",
                 "memory": "peak RSS (VmHWM) <= 1.5 x one input model's size"},
        "recommended": {"variant": RECOMMENDED,
                        "merge_options": {**COMMON, **VARIANTS[RECOMMENDED][0]},
                        "env": VARIANTS[RECOMMENDED][1],
                        "wrapper_change": "scripts/wasurenai/merge.py: MergeOptions(..., "
                                          "out_shard_size=400_000_000) and, at a merge job's start "
                                          "(before torch or mergekit allocate anything; "
                                          "merge.job_environment), "
                                          "os.environ.setdefault('THP_MEM_ALLOC_ENABLE', '1')",
                        "verdict": {k: verdict(v, f"api:{RECOMMENDED}") for k, v in results.items()}},
        "wrapper_today": {k: verdict(v, "api:wrapper") for k, v in results.items()},
        "analysis": ANALYSIS,
        "models": {"architecture": "LlamaForCausalLM", "hidden": args.hidden, "layers": args.layers,
                   "intermediate": cfg.intermediate_size, "vocab": args.vocab, "dtype": "float32",
                   "tied_embeddings": False},
        "merge_spec": SPEC,
        "mergekit_yaml": (work / "merge.yml").read_text(),
        "startup": {"mergekit_yaml_help_wall_s": startup,
                    "note": "process start-up is not in merge_s; import_s per run is the "
                            "import of torch + mergekit (+ wasurenai) in that child"},
        "page_cache": "warm: inputs read once before each layout's runs (resident fraction "
                      "before every run in runs[].inputs_resident_before); the cache is never "
                      "dropped (the runs would then measure the disk). Outputs are written "
                      "without fsync; os.sync() runs between runs, outside the timings.",
        "repeats": args.repeats,
        "layouts": results,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "mem_total_gib": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024 ** 3,
                    "transparent_hugepage": Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text().strip(),
                    "loadavg_after": os.getloadavg(),
                    "note": "2 CPU cores shared with other workers: timings carry their noise"},
    }
    write_json(args.out, result)
    print(f"wrote {args.out}")
    for layout in results:
        for name in ("api:wrapper", f"api:{RECOMMENDED}"):
            v = verdict(results[layout], name)
            print(f"{layout:16s} {name:20s} {v['merge_s']:5.1f} s = {v['merge_vs_floor']:.2f} x floor "
                  f"({v['floor_s']:.1f} s); peak RSS {v['peak_rss_vs_input']:.2f} x input "
                  f"(anon {v['peak_rss_anon_vs_input']:.2f} x)")
    if args.clean:
        for models in layouts.values():
            for path in models.values():
                shutil.rmtree(path, ignore_errors=True)
        print(f"removed the generated models under {work}")


if __name__ == "__main__":
    main()
