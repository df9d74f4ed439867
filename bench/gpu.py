"""One-GPU check of the paper's scale: CPT throughput, MFU and memory; an in-memory merge;
batched greedy generation. Prints one JSON line.

Run ``bench/gpu.sh`` (or ``python -m bench.gpu`` from the repo root; ``--tiny`` for the same
code path at a toy scale, which runs on a CPU in seconds, one thread: tests/test_bench_gpu.py). Nothing is
downloaded; everything below is the project's own code, at llm-jp-3-3.7b's shape:

1. data: the demo's synthetic corpus and llm-jp-eval datasets (``synthetic.synthesize`` on
   config.yaml's ``synthetic``), a byte-level BPE trained on its text (``train_tokenizer``)
   padded with unreachable ids to llm-jp-3's 99,584 (the shape is the point here, not the
   tokenization), packed into the paper's 1,024-token windows (``pack_tokens``);
2. a base of llm-jp-3-3.7b's shape with random weights (``train.build_model``, saved in
   bf16 as the published checkpoint is), continued by ``wasurenai.train.train`` exactly as
   a CPT job runs it (``init_model``; DeepSpeed) with the paper preset's ``cpt`` section
   (configs/llm-jp-3-3.7b.yaml: bf16, ZeRO-2, micro-batch 4, dropout 0.1, AdamW) except
   ``steps`` (24), ``global_batch_size`` (32: accumulation 8 instead of 64, so the optimizer
   step weighs 8x more than in a real run: the measured MFU errs low) and
   ``checkpoint_every`` (0). tokens/s and MFU are the loop's own log rows (every 4 steps)
   after the first (warm-up); MFU = 6 x N x tokens/s / peak, N = ``num_parameters()``, no
   attention term (at 1,024 tokens it would add 12 x layers x hidden x 1024 / 6N = 4.7 %),
   peak = the loop's table by the CUDA device name (H100 989.4, H200 989.4, A100 312
   TFLOP/s bf16 dense) or ``WASURENAI_PEAK_TFLOPS``; on a CPU it is null unless that is set.
   Peak GPU memory is ``torch.cuda.max_memory_allocated`` over the training run;
3. the paper's Linear merge (the preset's ``merges.linear``) of the base, the CPT model and a
   second random model of the same shape (standing in for the other direction's CPT model:
   the merge's cost does not depend on the values), merged by ``merge.merge_into`` into a
   model loaded with ``evaluation.load_model``, as sweep mode does; one tensor is checked
   against the weighted mean of the inputs;
4. the merged model generates for every dataset of the demo's ten categories (12 datasets, 32
   4-shot prompts each, the preset's batch 16) through ``evaluation.generate_all``; a random
   model never emits EOS, so every prompt runs its full ``output_length``: the worst case.

Wall time on one H100/H200, estimated (not measured: no GPU was lent when this was written):
imports and data ~20 s; the two random models built on the GPU and saved (7.6 GB each)
~40 s; the CPT run: loading the base in fp32 ~20 s, DeepSpeed start ~15 s, 24 steps x 8
micro-batches of 4,096 tokens at 6 x 3.78e9 x 4096 = 9.3e13 FLOPs each = 1.8e16 FLOPs, 45 s
at 40 % MFU (90 s at 20 %), saving ~15 s; the merge on the CPU (3 x 7.6 GB read, linear
arithmetic in fp32) ~60 s; generation: 384 prompts in 24 batches, 232 decoding steps per
pass over the 12 datasets at ~30 ms each, ~15 s plus prefill. About 4.5 min at 40 % MFU
and 5.5 min at 20 %, inside 8 min; scratch disk 23 GB (--workdir). GPU memory: ~60 GB of
ZeRO-2 state (bf16 weights and gradients, fp32 master weights and AdamW moments) plus the
micro-batch's activations; the engine may outlive ``train`` (``gpu_memory_after_gib``), so
the random models are built before it and the merged model (7.6 GB) and generation fit
beside it on 80 GB.

On a GPU at full scale the line is also written to bench/results/gpu.json.
"""
from __future__ import annotations

import argparse
import gc
import itertools
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
PRESET = ROOT / "configs" / "llm-jp-3-3.7b.yaml"
DEMO = ROOT / "config.yaml"
RESULT = ROOT / "bench" / "results" / "gpu.json"
PEAK_ENV = "WASURENAI_PEAK_TFLOPS"

# llm-jp-3-3.7b's config.json (huggingface.co/llm-jp/llm-jp-3-3.7b; the same values in its
# instruct variant and derivatives): LlamaForCausalLM, 3.78B parameters with the vocabulary.
SHAPE = dict(family="llama", hidden_size=3072, intermediate_size=8192, num_hidden_layers=28,
             num_attention_heads=24, num_key_value_heads=24, head_dim=128, hidden_act="silu",
             max_position_embeddings=4096, rms_norm_eps=1e-5, rope_theta=10000.0,
             attention_bias=False, mlp_bias=False, tie_word_embeddings=False)
VOCAB = 99584
TINY_SHAPE = dict(SHAPE, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=4, head_dim=16)
CHECKED = "model.layers.0.self_attn.o_proj.weight"  # the merged tensor compared to the mean


@dataclass(frozen=True)
class Scale:
    shape: dict
    vocab: int
    window: int | None       # None: the preset's tokenize.window (1024)
    steps: int
    global_batch_size: int
    log_every: int
    samples: int             # test prompts per dataset
    few_shots: int | None    # None: the preset's evaluation.num_few_shots (4)
    batch_size: int | None   # generation batch; None: the preset's evaluation.batch_size (16)


FULL = Scale(SHAPE, VOCAB, None, steps=24, global_batch_size=32, log_every=4, samples=32,
             few_shots=None, batch_size=None)
TINY = Scale(TINY_SHAPE, 512, 64, steps=4, global_batch_size=8, log_every=2, samples=2,
             few_shots=1, batch_size=2)


def load_yaml(path: Path) -> dict:
    import yaml

    return yaml.safe_load(path.read_text(encoding="utf-8"))


def peak_tflops_override() -> float | None:
    value = os.environ.get(PEAK_ENV)
    if not value:
        return None
    try:
        peak = float(value)
    except ValueError:
        peak = 0.0
    if not peak > 0:
        raise SystemExit(f"{PEAK_ENV}={value!r}: must be a positive number of TFLOP/s")
    return peak


def pad_vocabulary(tokenizer_dir: Path, size: int) -> None:
    """Grow a byte-level BPE's vocabulary to ``size`` ids with tokens no merge produces
    (three-character strings of the byte alphabet that are not in it)."""
    from tokenizers import pre_tokenizers

    path = tokenizer_dir / "tokenizer.json"
    spec = json.loads(path.read_text(encoding="utf-8"))
    vocab = spec["model"]["vocab"]
    if len(vocab) > size:
        raise SystemExit(f"{tokenizer_dir}: the trained vocabulary ({len(vocab)}) exceeds {size}")
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    for chars in itertools.product(alphabet, repeat=3):
        if len(vocab) >= size:
            break
        vocab.setdefault("".join(chars), len(vocab))
    path.write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")


def prepare_data(scale: Scale, preset: dict, work: Path, log) -> dict:
    from transformers import AutoTokenizer

    from wasurenai.common import read_texts
    from wasurenai.demo_models import train_tokenizer
    from wasurenai.packing import pack_tokens
    from wasurenai.synthetic import synthesize

    synthesize(load_yaml(DEMO)["synthetic"], work / "corpus.tsv", work / "text.jsonl", work / "data")
    tok = work / "tokenizer"
    train_tokenizer(read_texts(work / "text.jsonl"), scale.vocab, tok)
    pad_vocabulary(tok, scale.vocab)
    if len(AutoTokenizer.from_pretrained(tok)) != scale.vocab:
        raise SystemExit(f"{tok}: the padded tokenizer does not have {scale.vocab} ids")
    window = scale.window or preset["tokenize"]["window"]
    meta = pack_tokens(work / "text.jsonl", tok, work / "t.bin", work / "t.json", window)
    log(f"data: {meta['n_windows']} windows of {window} tokens, vocabulary {scale.vocab}")
    return {"tokenizer": tok, "bin": work / "t.bin", "meta": work / "t.json", "window": window,
            "datasets": work / "data" / "evaluation" / "test"}


def cpt_hp(scale: Scale, preset: dict) -> dict:
    """The paper preset's cpt section with only the run length and checkpointing changed."""
    return dict(preset["cpt"], steps=scale.steps, global_batch_size=scale.global_batch_size,
                log_every=scale.log_every, checkpoint_every=0, peak_tflops=peak_tflops_override())


def save_random_model(tokenizer_dir: Path, shape: dict, dropout: float, seed: int, out: Path,
                      device: str) -> int:
    """A model of ``shape`` with random weights (built on ``device``), saved in bf16 with the
    tokenizer; returns its parameter count (tied weights once, as the training loop counts)."""
    import torch

    from wasurenai.common import atomic_dir, set_seed
    from wasurenai.train import build_model, copy_tokenizer_files

    set_seed(seed)
    with torch.device(device):
        model = build_model(tokenizer_dir, dropout, shape)
    n_params = model.num_parameters()
    with atomic_dir(out) as tmp:
        model.to(torch.bfloat16).save_pretrained(tmp, safe_serialization=True)
        copy_tokenizer_files(tokenizer_dir, tmp)
    del model
    free_memory()
    return n_params


def free_memory() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
        torch.cuda.empty_cache()


def gib(n_bytes: int) -> float:
    return n_bytes / 2**30


def run_training(data: dict, hp: dict, base: Path, out: Path, n_params: int, cuda: bool, log) -> dict:
    import torch

    from wasurenai.train import train
    from wasurenai.train.loop import peak_flops

    if cuda:
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    rows = train(data["bin"], data["meta"], data["tokenizer"], out, hp, init_model=base)
    seconds = time.perf_counter() - t0
    peak_memory = gib(torch.cuda.max_memory_allocated()) if cuda else None
    free_memory()
    memory_after = gib(torch.cuda.memory_allocated()) if cuda else None
    measured = rows[1:] or rows  # the first row holds the warm-up
    tokens_per_s = sum(r["tokens_per_s"] for r in measured) / len(measured)
    peak = peak_flops(hp, torch.device("cuda" if cuda else "cpu"))
    mfu = None if peak is None else 6 * n_params * tokens_per_s / peak
    log(f"train: {tokens_per_s:,.0f} tokens/s, MFU {mfu}, peak memory {peak_memory} GiB")
    return {
        "steps": hp["steps"], "global_batch_size": hp["global_batch_size"],
        "micro_batch_size": hp["micro_batch_size"], "window": data["window"],
        "precision": hp["precision"], "zero_stage": hp["zero_stage"], "dropout": hp["dropout"],
        "activation_checkpointing": hp["activation_checkpointing"],
        "rows_measured": len(measured), "tokens_per_s": tokens_per_s, "mfu": mfu,
        "mfu_formula": "6 * n_params * tokens_per_s / peak (no attention term)",
        "peak_tflops": None if peak is None else peak / 1e12,
        "loop_mfu": [r["mfu"] for r in measured], "loss": [r["loss"] for r in rows],
        "peak_gpu_memory_gib": peak_memory, "gpu_memory_after_gib": memory_after, "seconds": seconds,
    }


def read_tensor(model_dir: Path, name: str):
    from safetensors import safe_open

    for path in sorted(model_dir.glob("*.safetensors")):
        with safe_open(str(path), framework="pt") as fh:
            if name in fh.keys():
                return fh.get_tensor(name).float()
    raise SystemExit(f"{model_dir}: no tensor {name}")


def run_merge(spec: dict, models: dict[str, Path], cuda: bool, log):
    """(merged model, its tokenizer, facts): ``spec`` merged in memory into the base's shell."""
    import torch

    from wasurenai.evaluation import load_model
    from wasurenai.merge import DEFAULT_SEED, merge_into, mergekit_config

    t0 = time.perf_counter()
    model, tokenizer = load_model(models["base"])
    load_s = time.perf_counter() - t0
    config = mergekit_config("linear", spec, {role: str(p) for role, p in models.items()})
    t0 = time.perf_counter()
    merge_into(config, model, seed=spec.get("seed", DEFAULT_SEED))
    if cuda:
        torch.cuda.synchronize()
    merge_s = time.perf_counter() - t0
    weights = {role: float(spec["weights"][role]) for role in models}
    total = sum(weights.values())  # mergekit's linear normalises the weights (normalize: true)
    expected = sum(w / total * read_tensor(models[role], CHECKED) for role, w in weights.items())
    got = dict(model.named_parameters())[CHECKED].detach().float().cpu()
    diff = float((got - expected).abs().max())
    if diff > 1e-2 * float(expected.abs().max()) + 1e-6:
        raise SystemExit(f"merge check: {CHECKED} is {diff} away from the weighted mean of the inputs")
    log(f"merge: {merge_s:.1f} s (shell load {load_s:.1f} s), {CHECKED} within {diff:.2g} of the mean")
    return model, tokenizer, {"method": config["merge_method"], "models": len(models),
                              "weights": weights, "shell_load_s": load_s, "seconds": merge_s,
                              "checked_tensor": CHECKED, "check_max_abs_diff": diff}


def run_generation(model, tokenizer, data: dict, scale: Scale, preset: dict, cuda: bool, log) -> dict:
    import torch

    from wasurenai.evaluation import Task, dataset_names, generate_all, load_task

    cfg = preset["evaluation"]
    n_shots = int(cfg["num_few_shots"]) if scale.few_shots is None else scale.few_shots
    batch_size = scale.batch_size or int(cfg["batch_size"])
    tasks = {}
    for name in dataset_names(load_yaml(DEMO)["evaluation"]):
        ds, prompts = load_task(data["datasets"], name, n_shots, scale.samples)
        tasks[name] = Task(name, ds, prompts, list(ds.metrics), {})
    n_prompts = sum(len(t.prompts) for t in tasks.values())
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    predictions = generate_all(model, tokenizer, tasks, {"batch_size": batch_size,
                                                         "add_special_tokens": cfg["add_special_tokens"]},
                               lambda *a: None)
    seconds = time.perf_counter() - t0
    if sum(len(p) for p in predictions.values()) != n_prompts:
        raise SystemExit("generate: a prediction per prompt was not returned")
    prompt_tokens = [len(ids) for t in tasks.values() for ids in tokenizer(t.prompts)["input_ids"]]
    log(f"generate: {n_prompts} prompts in {seconds:.1f} s")
    return {"datasets": len(tasks), "prompts": n_prompts, "num_few_shots": n_shots,
            "batch_size": batch_size, "prompt_tokens_mean": sum(prompt_tokens) / len(prompt_tokens),
            "max_new_tokens": {n: t.dataset.output_length for n, t in tasks.items()},
            "samples_per_s": n_prompts / seconds, "seconds": seconds,
            "peak_gpu_memory_gib": gib(torch.cuda.max_memory_allocated()) if cuda else None}


def run(scale: Scale, work: Path, log) -> dict:
    import torch

    from wasurenai.merge import job_environment

    job_environment()  # the merge's allocator setting and offline hub, as a merge job sets them
    t_start = time.perf_counter()
    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    if scale is TINY and not cuda:
        torch.set_num_threads(1)  # a toy model gains nothing from threads, and shared cores cost 30x
    preset = load_yaml(PRESET)
    hp = cpt_hp(scale, preset)
    data = prepare_data(scale, preset, work, log)
    base, cpt, other = work / "base", work / "cpt", work / "other"
    # Both random models first, on an empty device: DeepSpeed's engine can outlive train()
    # (its hooks keep it), and with it its memory (train.gpu_memory_after_gib says how much).
    n_params = save_random_model(data["tokenizer"], scale.shape, hp["dropout"], 0, base, device)
    save_random_model(data["tokenizer"], scale.shape, hp["dropout"], 1, other, device)
    log(f"base and second model: {n_params:,} parameters each")
    train_facts = run_training(data, hp, base, cpt, n_params, cuda, log)
    model, tokenizer, merge_facts = run_merge(
        preset["merges"]["linear"], {"base": base, "ja-en": cpt, "en-ja": other}, cuda, log)
    gen_facts = run_generation(model, tokenizer, data, scale, preset, cuda, log)
    return {
        "bench": "gpu", "tiny": scale is TINY, "device": device,
        "device_name": torch.cuda.get_device_name() if cuda else "cpu",
        "measured_on_gpu": cuda and scale is FULL,
        "shape": {k: v for k, v in scale.shape.items() if k != "family"} | {"vocab_size": scale.vocab},
        "n_params": n_params, "train": train_facts, "merge": merge_facts, "generate": gen_facts,
        "total_s": time.perf_counter() - t_start,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="a toy shape, 4 steps, 2 prompts per dataset")
    parser.add_argument("--workdir", type=Path, help="scratch directory (default: a temporary one; "
                        "the full scale writes 23 GB of models there)")
    args = parser.parse_args(argv)
    scale = TINY if args.tiny else FULL

    def log(message: str) -> None:
        print(f"bench.gpu: {message}", file=sys.stderr, flush=True)

    # Everything the libraries print (DeepSpeed logs to stdout) goes to stderr: stdout gets
    # the one JSON line.
    sys.stdout.flush()
    stdout = os.dup(1)
    os.dup2(2, 1)
    try:
        if args.workdir:
            args.workdir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=args.workdir, prefix="bench_gpu.") as tmp:
            result = run(scale, Path(tmp), log)
    finally:
        sys.stdout.flush()
        os.dup2(stdout, 1)
        os.close(stdout)
    if result["measured_on_gpu"]:
        from wasurenai.common import write_json

        write_json(RESULT, result)
    print(json.dumps(result), flush=True)
    return result


if __name__ == "__main__":
    main()
