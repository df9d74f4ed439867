"""Evaluate one model the llm-jp-eval way: general tasks (categories, AVG) and translation.

Greedy generation with transformers (batched, left-padded, KV cache), predictions cut at the
first blank line as llm-jp-eval does, metrics from ``wasurenai.metrics``.
"""
from __future__ import annotations

import dataclasses
import hashlib
import statistics
import time
import unicodedata
from pathlib import Path
from typing import Sequence

from .common import WorkflowError, first_log, get_logger, write_json
from .llm_jp_eval import Dataset, build_prompt, dataset_path, few_shots, load_dataset
from .metrics import BLEU_TOKENIZE, MetricSuite

CFG_KEYS = ("num_few_shots", "max_samples", "batch_size", "categories", "translation", "bertscore")


# --- model and generation ---------------------------------------------------------------

def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_model(model_dir: str | Path, device: str | None = None):
    """(model, tokenizer) from an HF dir; tokenizer left-padded, pad = eos when missing."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        raise WorkflowError(f"{model_dir}: not a Hugging Face model directory (no config.json)")
    device = device or default_device()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if tokenizer.eos_token_id is None:
        raise WorkflowError(f"{model_dir}: tokenizer has no eos_token")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    dtype = torch.float32 if device == "cpu" else "auto"
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype).to(device).eval()
    return model, tokenizer


def generate(model, tokenizer, prompts: Sequence[str], max_new_tokens: int,
             batch_size: int) -> list[str]:
    """Greedy continuations of ``prompts`` (new tokens only, special tokens skipped).

    Prompts are sorted by token length so each batch pads little; results come back in the
    original order. Generation stops at EOS or after ``max_new_tokens``.
    """
    import torch

    lengths = [len(ids) for ids in tokenizer(list(prompts))["input_ids"]]
    order = sorted(range(len(prompts)), key=lambda i: lengths[i])
    outputs: list[str | None] = [None] * len(prompts)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            batch = tokenizer([prompts[i] for i in idx], padding=True,
                              return_tensors="pt").to(model.device)
            out = model.generate(
                input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                do_sample=False, max_new_tokens=max_new_tokens, use_cache=True,
                pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                temperature=None, top_p=None, top_k=None,  # no sampling knobs from the model dir
            )
            new = out[:, batch["input_ids"].shape[1]:]
            for i, text in zip(idx, tokenizer.batch_decode(new, skip_special_tokens=True)):
                outputs[i] = text
    return outputs  # type: ignore[return-value]


def normalize(text: str) -> str:
    """llm-jp-eval's ``normalize``: Unicode NFKC."""
    return unicodedata.normalize("NFKC", text)


def postprocess(generated: str) -> str:
    """llm-jp-eval's prediction: the text before the first blank line, NFKC, stripped."""
    return normalize(generated.split("\n\n")[0]).strip()


# --- datasets, prompts, aggregation -----------------------------------------------------

def dataset_names(cfg: dict) -> list[str]:
    """Every dataset a job evaluates: category members, then translation datasets."""
    names = [n for members in cfg["categories"].values() for n in members]
    names += list(cfg["translation"].values())
    return list(dict.fromkeys(names))


def load_task(dataset_dir: str | Path, name: str, num_few_shots: int,
              max_samples: int | None) -> tuple[Dataset, list[str]] | None:
    """The test split (first ``max_samples``) and its prompts, or None if it is absent."""
    path = dataset_path(dataset_dir, "test", name)
    if not path.is_file():
        return None
    ds = load_dataset(path)
    samples = ds.samples[:max_samples] if max_samples else ds.samples
    if not samples:
        raise WorkflowError(f"{path}: no test samples")
    shots = []
    if num_few_shots > 0:
        train = dataset_path(dataset_dir, "train", name)
        if not train.is_file():
            raise WorkflowError(f"{train}: missing (needed for {num_few_shots} few-shot examples)")
        shots = few_shots(dataset_dir, name, num_few_shots)
    prompts = [build_prompt(ds.instruction, shots, s.input) for s in samples]
    return dataclasses.replace(ds, samples=samples), prompts


def aggregate(datasets: dict[str, dict], categories: dict[str, list[str]]):
    """(category scores, missing categories, AVG).

    A category is the mean of the main metric of its datasets that were evaluated; one with
    none of them is missing: null, left out of AVG (never counted as 0).
    """
    scores: dict[str, float | None] = {}
    missing = []
    for cat, members in categories.items():
        vals = [datasets[n]["metrics"][datasets[n]["main_metric"]] for n in members if n in datasets]
        scores[cat] = statistics.fmean(vals) if vals else None
        if not vals:
            missing.append(cat)
    present = [v for v in scores.values() if v is not None]
    avg = statistics.fmean(present) if present else None
    return scores, missing, avg


def target_language(direction: str) -> str:
    try:
        _src, tgt = direction.split("-")
    except ValueError:
        raise WorkflowError(f"evaluation.translation: direction {direction!r} is not 'src-tgt'") from None
    return tgt


def prompt_digest(prompts: dict[str, list[str]]) -> str:
    h = hashlib.sha256()
    for name in sorted(prompts):
        for p in prompts[name]:
            h.update(f"{name}\x00{p}\x00".encode())
    return h.hexdigest()


# --- the whole evaluation ---------------------------------------------------------------

def check_config(cfg: dict) -> None:
    missing = [k for k in CFG_KEYS if k not in cfg]
    if missing:
        raise WorkflowError(f"config evaluation: missing key(s) {missing}")
    if not isinstance(cfg["categories"], dict) or not all(
        isinstance(v, list) and v for v in cfg["categories"].values()
    ):
        raise WorkflowError("config evaluation.categories: must map names to lists of datasets")
    if not isinstance(cfg["translation"], dict):
        raise WorkflowError("config evaluation.translation: must map directions to datasets")
    for key in ("model", "num_layers"):
        if key not in (cfg["bertscore"] or {}):
            raise WorkflowError(f"config evaluation.bertscore.{key}: missing")
    for direction in cfg["translation"]:
        if target_language(direction) not in BLEU_TOKENIZE:
            raise WorkflowError(
                f"config evaluation.translation: {direction!r}: target language must be one of "
                f"{sorted(BLEU_TOKENIZE)}"
            )
    if int(cfg["batch_size"]) < 1:
        raise WorkflowError("config evaluation.batch_size: must be >= 1")


def evaluate(model_dir: str | Path, dataset_dir: str | Path, cfg: dict,
             suite: MetricSuite | None = None, device: str | None = None, logger=None) -> dict:
    """Evaluate one model; returns the result dict (the JSON schema minus base/model)."""
    check_config(cfg)
    log = logger.info if logger else (lambda *a: None)
    if not Path(dataset_dir).is_dir():
        raise WorkflowError(f"{dataset_dir}: dataset directory not found")
    t0 = time.perf_counter()
    tasks = {}
    for name in dataset_names(cfg):
        task = load_task(dataset_dir, name, int(cfg["num_few_shots"]), cfg["max_samples"])
        if task is None:
            log(f"{name}: not in {dataset_dir}, skipped")
            continue
        tasks[name] = task
    if not tasks:
        raise WorkflowError(f"{dataset_dir}: none of the configured datasets exist in test/")
    suite = suite or MetricSuite(cfg["bertscore"]["model"], cfg["bertscore"]["num_layers"], device)
    for name, (ds, _) in tasks.items():
        suite.check(ds.metrics, ds.path)
    model, tokenizer = load_model(model_dir, device)
    limit = getattr(model.config, "max_position_embeddings", None)
    for name, (ds, prompts) in tasks.items():
        longest = max(len(ids) for ids in tokenizer(prompts)["input_ids"]) + ds.output_length
        if limit and longest > limit:
            log(f"WARNING {name}: prompt + output up to {longest} tokens > "
                f"max_position_embeddings {limit}")
    needs_bert = tasks.keys() & set(cfg["translation"].values()) or any(
        m.startswith("bert_score") for ds, _ in tasks.values() for m in ds.metrics
    )
    if needs_bert:
        suite.bert_scorer  # noqa: B018 - load the encoder once, timed with the model
    load_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    predictions: dict[str, list[str]] = {}
    for name, (ds, prompts) in tasks.items():
        raw = generate(model, tokenizer, prompts, ds.output_length, int(cfg["batch_size"]))
        predictions[name] = [postprocess(r) for r in raw]
        log(f"{name}: generated {len(prompts)} predictions")
    generate_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    results, records = {}, {}
    for name, (ds, _) in tasks.items():
        preds = predictions[name]
        refs = [normalize(s.output).strip() for s in ds.samples]
        results[name] = {
            "metrics": {m: suite.score(m, preds, refs) for m in ds.metrics},
            "main_metric": ds.metrics[0],
            "n": len(preds),
        }
        records[name] = [
            {"input": s.input, "reference": s.output, "prediction": p}
            for s, p in zip(ds.samples, preds)
        ]
        log(f"{name}: {results[name]['metrics']}")
    categories, missing, avg = aggregate(results, cfg["categories"])
    translation = {}
    for direction, name in cfg["translation"].items():
        lang = target_language(direction)
        entry = {"dataset": name, "bleu": None, "bert_score": None, "comet": None,
                 "comet_reason": "not requested"}
        if name in tasks:
            refs = [normalize(s.output).strip() for s in tasks[name][0].samples]
            entry["bleu"] = suite.corpus_bleu(predictions[name], refs, lang)
            entry["bert_score"] = statistics.fmean(suite.bert_f1(predictions[name], refs))
        translation[direction] = entry
    metrics_s = time.perf_counter() - t0

    return {
        "model_path": str(model_dir),
        "datasets": results,
        "categories": categories,
        "missing_categories": missing,
        "AVG": avg,
        "MT": categories.get("MT"),
        "translation": translation,
        "predictions": records,
        "prompt_sha256": prompt_digest({n: p for n, (_, p) in tasks.items()}),
        "metric_versions": suite.versions,
        "timings": {"load_s": load_s, "generate_s": generate_s, "metrics_s": metrics_s},
    }


def main(smk) -> None:
    import torch

    logger = get_logger("evaluate", first_log(smk))
    cfg = dict(smk.params.cfg)
    torch.set_num_threads(max(1, int(smk.threads)))
    dataset_dir = getattr(smk.input, "datasets", None) or cfg.get("dataset_dir")
    result = evaluate(smk.input.model, dataset_dir, cfg, logger=logger)
    result = {"base": smk.wildcards.base, "model": smk.wildcards.model, **result}
    write_json(smk.output[0], result)
    logger.info(f"AVG={result['AVG']} MT={result['MT']} -> {smk.output[0]}")
