"""Evaluate one model the llm-jp-eval way: general tasks (categories, AVG) and translation.

What llm-jp-eval v1.3 does, and this module does the same (tested):

* prompts are tokenized without special tokens (its transformers text-generation pipeline
  adds no BOS; ``evaluation.add_special_tokens: true`` for a model that needs one);
* generation is greedy (batched here, left-padded, KV cache, one prefill of a dataset's shared
  instruction and few-shots; llm-jp-eval runs one prompt at a time — the predictions are the
  same, see ``generate``), up to ``output_length`` new tokens;
* the text is the decoded prompt + continuation (special tokens skipped, tokenization spaces
  cleaned up) with the decoded prompt's length sliced off, as the pipeline and LangChain do;
* prediction = NFKC(text before the first blank line), reference = NFKC(output); neither is
  stripped;
* a category is the mean of its members' scores; AVG is the mean over every category of the
  map, a category without a score counting 0.0 (``evaluation.avg_over``).
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import inspect
import os
import statistics
import time
import unicodedata
from pathlib import Path
from typing import Sequence

from .common import WorkflowError, clean_text, get_logger, process_seconds, write_json
from .jobs import EvaluateJob
from .llm_jp_eval import (ZEROED, Dataset, Sample, build_prompt, dataset_path, few_shots,
                          load_dataset, missing_datasets, resolve_categories)
from .metrics import NOT_EVALUATED, MetricSuite, bleu_from_stats, reduce_samples
from .testsets import file_dataset, languages, translation_metrics

CFG_KEYS = ("num_few_shots", "max_samples", "batch_size", "categories", "translation", "bertscore")
AVG_OVER = ("all", "evaluated")


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


def decode_continuation(tokenizer, prompt_ids: Sequence[int], new_ids: Sequence[int]) -> str:
    """What transformers' text-generation pipeline (and LangChain on top, as llm-jp-eval
    v1.3 runs it) returns: decode(prompt + new) minus the first len(decode(prompt)) chars,
    both decoded with special tokens skipped and tokenization spaces cleaned up."""
    kw = {"skip_special_tokens": True, "clean_up_tokenization_spaces": True}
    full = tokenizer.decode(list(prompt_ids) + list(new_ids), **kw)
    return full[len(tokenizer.decode(list(prompt_ids), **kw)):]


MIN_SHARED_PREFIX = 16  # tokens: a shorter common prefix is not worth a cached prefill


def shared_prefix_length(token_lists: Sequence[Sequence[int]]) -> int:
    """Tokens that every list starts with, leaving at least one token of each uncached (the
    one whose logits start generation)."""
    first = token_lists[0]
    n = min(len(t) for t in token_lists) - 1
    for other in token_lists[1:]:
        k = 0
        while k < n and other[k] == first[k]:
            k += 1
        n = k
    return max(n, 0)


def can_share_prefix(model) -> bool:
    """Whether ``generate`` can start batches from a copied KV cache of this model: one that
    keeps transformers' default (dynamic) cache; not where the model's generation config
    names a cache implementation of its own (Gemma 2's hybrid, a static cache), which
    transformers does not combine with a given cache, nor for a model without a KV cache."""
    if getattr(model.generation_config, "cache_implementation", None) is not None:
        return False
    supports = getattr(model, "_supports_default_dynamic_cache", None)
    return bool(supports()) if callable(supports) else False


def generate(model, tokenizer, prompts: Sequence[str], max_new_tokens: int,
             batch_size: int, add_special_tokens: bool = False, share_prefix: bool = True) -> list[str]:
    """Greedy continuations of ``prompts``, decoded as llm-jp-eval's pipeline decodes them.

    Prompts are sorted by token length so each batch pads little (left padding, masked);
    results come back in the original order. Generation stops at EOS or after
    ``max_new_tokens``. In fp32 a batch gives the one-prompt-at-a-time tokens except where
    the two best logits tie to float precision (tests/test_evaluation.py shows it); in bf16
    on a GPU, padding changes the kernels' summation order and near-ties can flip more often.

    One dataset's prompts share their instruction and few-shot examples: with
    ``share_prefix``, the tokens every prompt starts with (at least ``MIN_SHARED_PREFIX``,
    two prompts or more, a model that ``can_share_prefix``) are run through the model once,
    and each batch starts from a copy of that KV cache, padded between the prefix and each
    prompt's own tokens (the positions follow the attention mask, so each token sits where
    it sits in its prompt). The same tokens up to float rounding, as batching is; a lone
    prompt is never split.
    """
    import torch

    enc = tokenizer(list(prompts), add_special_tokens=add_special_tokens)["input_ids"]
    order = sorted(range(len(prompts)), key=lambda i: len(enc[i]))
    outputs: list[str | None] = [None] * len(prompts)
    pad = tokenizer.pad_token_id
    shared = shared_prefix_length(enc) if share_prefix and len(enc) > 1 and can_share_prefix(model) else 0
    if shared < MIN_SHARED_PREFIX:
        shared = 0
    prefix = list(enc[0][:shared])
    with torch.inference_mode():
        prefix_cache = None
        if shared:
            last_only = {"logits_to_keep": 1} if "logits_to_keep" in inspect.signature(model.forward).parameters else {}
            prefix_cache = model(input_ids=torch.tensor([prefix], device=model.device),
                                 use_cache=True, **last_only).past_key_values
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            own = [enc[i][shared:] for i in idx]
            width = max(map(len, own))
            ids = torch.tensor([prefix + [pad] * (width - len(o)) + o for o in own])
            mask = torch.tensor([[1] * shared + [0] * (width - len(o)) + [1] * len(o) for o in own])
            kwargs = {}
            if prefix_cache is not None:
                cache = copy.deepcopy(prefix_cache)
                cache.batch_repeat_interleave(len(idx))
                kwargs["past_key_values"] = cache
            out = model.generate(
                input_ids=ids.to(model.device), attention_mask=mask.to(model.device),
                do_sample=False, max_new_tokens=max_new_tokens, use_cache=True,
                pad_token_id=pad, eos_token_id=tokenizer.eos_token_id,
                temperature=None, top_p=None, top_k=None,  # no sampling knobs from the model dir
                **kwargs,
            )
            for row, i in enumerate(idx):
                outputs[i] = decode_continuation(tokenizer, enc[i], out[row, ids.shape[1]:].tolist())
    return outputs  # type: ignore[return-value]


def normalize(text: str) -> str:
    """llm-jp-eval's ``normalize``: Unicode NFKC (of valid Unicode: lone surrogates -> U+FFFD)."""
    return unicodedata.normalize("NFKC", clean_text(text))


def postprocess(generated: str) -> str:
    """llm-jp-eval's prediction: NFKC of the text before the first blank line (not stripped)."""
    return normalize(generated.split("\n\n")[0])


# --- tasks: what one evaluation job generates and scores ---------------------------------

@dataclasses.dataclass(frozen=True)
class Task:
    """One test set: its dataset (samples already cut to max_samples), prompts, metrics."""

    name: str
    dataset: Dataset
    prompts: list[str]
    metrics: list[str]          # to compute, in order; the dataset's own list first
    not_evaluated: dict         # metric -> reason it is not computed


def comet_requested(cfg: dict) -> bool:
    return bool((cfg.get("comet") or {}).get("checkpoint"))


def category_members(cfg: dict) -> dict[str, list[tuple[str, str | None]]]:
    return resolve_categories(cfg["categories"])


def dataset_names(cfg: dict) -> list[str]:
    """Every llm-jp-eval dataset a job evaluates: category members, then translation sets."""
    names = [d for members in category_members(cfg).values() for d, _ in members]
    names += [e for e in cfg["translation"].values() if isinstance(e, str)]
    return list(dict.fromkeys(names))


def _prompts(ds: Dataset, shots: list[Sample]) -> list[str]:
    return [build_prompt(ds.instruction, shots, s.input) for s in ds.samples]


def _cut(ds: Dataset, max_samples: int | None) -> Dataset:
    """The first ``max_samples`` test samples; -1 (or None) = all, as llm-jp-eval's
    ``if 0 < max_num_samples < len(samples)``."""
    samples = ds.samples[:max_samples] if max_samples and max_samples > 0 else ds.samples
    if not samples:
        raise WorkflowError(f"{ds.path}: no test samples")
    return dataclasses.replace(ds, samples=samples)


def load_task(dataset_dir: str | Path, name: str, num_few_shots: int,
              max_samples: int | None) -> tuple[Dataset, list[str]]:
    """The dataset's samples in ``dataset_dir`` (the first ``max_samples``) and its prompts,
    with the first ``num_few_shots`` samples of ``../train`` as examples."""
    path = dataset_path(dataset_dir, name)
    if not path.is_file():
        raise WorkflowError(f"{path}: missing (dataset {name} of config evaluation.categories / "
                            "evaluation.translation in evaluation.dataset_dir)")
    ds = _cut(load_dataset(path), max_samples)
    shots = few_shots(dataset_dir, name, num_few_shots)
    return ds, _prompts(ds, shots)


def _split_metrics(ds: Dataset, wanted: list[str], suite: MetricSuite,
                   comet: bool) -> tuple[list[str], dict]:
    """(metrics to compute, {metric: reason} for those that are not computed)."""
    metrics, skipped = [], {}
    for m in dict.fromkeys([*ds.metrics, *wanted]):
        if m in NOT_EVALUATED:
            skipped[m] = NOT_EVALUATED[m]
        elif m == "comet_wmt22" and not comet:
            skipped[m] = "not requested (evaluation.comet.checkpoint is null)"
        else:
            metrics.append(m)
    suite.check(metrics, f"{ds.path}: field 'metrics'")
    return metrics, skipped


def prepare(dataset_dir: str | Path, cfg: dict, suite: MetricSuite, log=lambda *a: None
            ) -> dict[str, Task]:
    """Load every configured test set once: category datasets, then translation sets."""
    check_config(cfg)
    if not Path(dataset_dir).is_dir():
        raise WorkflowError(f"{dataset_dir}: dataset directory not found")
    comet = comet_requested(cfg)
    wanted: dict[str, list[str]] = {}
    for members in category_members(cfg).values():
        for dataset, metric in members:
            wanted.setdefault(dataset, []).extend([metric] if metric else [])
    for direction, entry in cfg["translation"].items():
        if isinstance(entry, str):
            wanted.setdefault(entry, []).extend(translation_metrics(direction, comet))
    tasks: dict[str, Task] = {}
    n_shots, max_samples = int(cfg["num_few_shots"]), cfg["max_samples"]
    missing = missing_datasets(dataset_dir, list(wanted), n_shots)
    if missing:
        raise WorkflowError(
            "config evaluation.dataset_dir: configured datasets missing (llm-jp-eval layout: "
            "<split dir>/<name>.json, few-shots from ../train/<name>.json):\n  "
            + "\n  ".join(missing))
    for name, metrics in wanted.items():
        ds, prompts = load_task(dataset_dir, name, n_shots, max_samples)
        tasks[name] = Task(name, ds, prompts, *_split_metrics(ds, metrics, suite, comet))
        if "code_exec" in tasks[name].metrics:  # a bad reference fails before generation
            from .code_exec import parse_tests

            for i, sample in enumerate(ds.samples):
                parse_tests(normalize(sample.output), i, ds.path)
    for direction, entry in cfg["translation"].items():
        if isinstance(entry, str):
            continue
        ds, pool = file_dataset(direction, entry, comet)
        ds = _cut(ds, max_samples)
        name = f"{direction}:{ds.name}"
        if n_shots and not pool:
            log(f"{name}: no train file, evaluated zero-shot")
        tasks[name] = Task(name, ds, _prompts(ds, pool[:n_shots]),
                           *_split_metrics(ds, ds.metrics, suite, comet))
    return tasks


def translation_task(cfg: dict, direction: str, tasks: dict[str, Task]) -> Task | None:
    entry = cfg["translation"][direction]
    if isinstance(entry, str):
        return tasks.get(entry)
    return next((t for n, t in tasks.items() if n.startswith(f"{direction}:")), None)


# --- scores ------------------------------------------------------------------------------

def aggregate(datasets: dict[str, dict], categories: dict, avg_over: str = "all"):
    """(category scores, {category: reason} for those without a score of their own, AVG).

    ``categories`` maps a category to its members: dataset names, or (dataset, metric)
    pairs; a bare name means the dataset's main metric. A category is the mean of the
    metric over its members. A category none of whose members has the metric has no score
    of its own: with ``avg_over="all"`` (llm-jp-eval's ``post_process_score_results``) it
    is 0.0 and AVG is the mean over every category; with ``"evaluated"`` it is None and AVG
    the mean over the others. Either way ``reasons`` says why.
    """
    if avg_over not in AVG_OVER:
        raise WorkflowError(f"config evaluation.avg_over: {avg_over!r}, not one of {AVG_OVER}")
    scores: dict[str, float | None] = {}
    reasons: dict[str, str] = {}
    for cat, members in categories.items():
        vals, skipped = [], []
        for member in members:
            dataset, metric = (member, None) if isinstance(member, str) else member
            res = datasets.get(dataset)
            if res is None:
                skipped.append(f"{dataset}: missing")
                continue
            metric = metric or res["main_metric"]
            if metric in res["metrics"]:
                vals.append(res["metrics"][metric])
            else:
                skipped.append(f"{dataset}: {res.get('not_evaluated', {}).get(metric, metric)}")
        scores[cat] = statistics.fmean(vals) if vals else None
        if not vals:
            why = "not evaluated: " + "; ".join(skipped)
            if avg_over == "all":
                scores[cat] = 0.0
                why = f"{ZEROED}; {why}"
            reasons[cat] = why
    present = [v for v in scores.values() if v is not None]
    avg = statistics.fmean(present) if present else None
    return scores, reasons, avg


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
    category_members(cfg)  # raises naming evaluation.categories
    if not isinstance(cfg["translation"], dict):
        raise WorkflowError("config evaluation.translation: must map directions to test sets")
    for direction, entry in cfg["translation"].items():
        languages(direction)
        if not isinstance(entry, str) and not (isinstance(entry, dict) and entry.get("path")):
            raise WorkflowError(
                f"config evaluation.translation.{direction}: an llm-jp-eval dataset name or "
                "{path: <.tsv|.jsonl>, ...}"
            )
    if int(cfg["batch_size"]) < 1:
        raise WorkflowError("config evaluation.batch_size: must be >= 1")
    if cfg["max_samples"] is not None and (int(cfg["max_samples"]) == 0
                                           or int(cfg["max_samples"]) < -1):
        raise WorkflowError("config evaluation.max_samples: the first N samples (N >= 1), "
                            "or -1 for all")
    if cfg.get("avg_over", "all") not in AVG_OVER:
        raise WorkflowError(f"config evaluation.avg_over: one of {AVG_OVER}")


def new_suite(cfg: dict, device: str | None = None) -> MetricSuite:
    check_config(cfg)
    comet = cfg.get("comet") or {}
    return MetricSuite(cfg["bertscore"], comet_checkpoint=comet.get("checkpoint"),
                       comet_batch_size=int(comet.get("batch_size") or 16), device=device)


def warn_context_length(model, tokenizer, tasks: dict[str, Task], add_special: bool,
                        log) -> None:
    """Log a warning for each task whose longest prompt plus its output length exceeds the
    model's ``max_position_embeddings``."""
    limit = getattr(model.config, "max_position_embeddings", None)
    for name, task in tasks.items():
        longest = max(len(ids) for ids in
                      tokenizer(task.prompts, add_special_tokens=add_special)["input_ids"])
        if limit and longest + task.dataset.output_length > limit:
            log(f"WARNING {name}: prompt + output up to {longest + task.dataset.output_length} "
                f"tokens > max_position_embeddings {limit}")


def generate_all(model, tokenizer, tasks: dict[str, Task], cfg: dict, log) -> dict[str, list[str]]:
    """{task: its post-processed predictions}, task by task."""
    predictions: dict[str, list[str]] = {}
    for name, task in tasks.items():
        raw = generate(model, tokenizer, task.prompts, task.dataset.output_length,
                       int(cfg["batch_size"]),
                       add_special_tokens=bool(cfg.get("add_special_tokens", False)))
        predictions[name] = [postprocess(r) for r in raw]
        log(f"{name}: generated {len(raw)} predictions")
    return predictions


def score_tasks(tasks: dict[str, Task], predictions: dict[str, list[str]],
                suite: MetricSuite, log) -> tuple[dict, dict]:
    """(per-dataset results: metrics, per-sample scores, main metric, ...; per-dataset
    records of input, reference and prediction)."""
    results, records = {}, {}
    for name, task in tasks.items():
        preds = predictions[name]
        refs = [normalize(s.output) for s in task.dataset.samples]
        srcs = [s.input for s in task.dataset.samples]
        samples = {m: suite.samples(m, preds, refs, srcs) for m in task.metrics}
        results[name] = {
            "metrics": {m: reduce_samples(m, v) for m, v in samples.items()},
            "samples": samples,  # per-sample scores: what the confidence intervals resample
            "main_metric": task.dataset.metrics[0],
            "not_evaluated": task.not_evaluated,
            "n": len(preds),
            "path": task.dataset.path,
        }
        records[name] = [
            {"input": s.input, "reference": s.output, "prediction": p}
            for s, p in zip(task.dataset.samples, preds)
        ]
        log(f"{name}: {results[name]['metrics']}")
    return results, records


def evaluate(model_dir: str | Path, dataset_dir: str | Path, cfg: dict,
             suite: MetricSuite | None = None, device: str | None = None, logger=None,
             tasks: dict[str, Task] | None = None, loaded=None) -> dict:
    """Evaluate one model; returns the result dict (the JSON schema minus base/model).

    ``suite``, ``tasks`` and ``loaded`` = (model, tokenizer) may be passed in so a job that
    evaluates many models (the sweep mode) loads datasets and metric models once.
    """
    log = logger.info if logger else (lambda *a: None)
    t0 = time.perf_counter()
    suite = suite or new_suite(cfg, device)
    tasks = tasks or prepare(dataset_dir, cfg, suite, log)
    model, tokenizer = loaded or load_model(model_dir, device)
    warn_context_length(model, tokenizer, tasks, bool(cfg.get("add_special_tokens", False)), log)
    load_s = time.perf_counter() - t0
    names = [m for t in tasks.values() for m in t.metrics]
    t0 = time.perf_counter()
    if not suite.loading:  # load before generating: a metric model that cannot load fails first
        suite.preload(names)
    metric_load_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    predictions = generate_all(model, tokenizer, tasks, cfg, log)
    generate_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    suite.preload(names)  # a background load (main): what of it generation did not hide
    metric_load_s += time.perf_counter() - t0

    t0 = time.perf_counter()
    results, records = score_tasks(tasks, predictions, suite, log)
    categories, reasons, avg = aggregate(results, category_members(cfg),
                                         cfg.get("avg_over", "all"))
    for cat, why in reasons.items():
        log(f"WARNING category {cat}: {why}")
    translation = {direction: translation_scores(direction, translation_task(cfg, direction, tasks),
                                                 predictions, suite, cfg)
                   for direction in cfg["translation"]}
    metrics_s = time.perf_counter() - t0

    return {
        "model_path": str(model_dir),
        "datasets": results,
        "categories": categories,
        "category_reasons": reasons,
        "AVG": avg,
        "MT": categories.get("MT"),
        "translation": translation,
        "predictions": records,
        "prompt_sha256": prompt_digest({n: t.prompts for n, t in tasks.items()}),
        "metric_versions": suite.versions,
        "timings": {"load_s": load_s, "metric_load_s": metric_load_s,
                    "generate_s": generate_s, "metrics_s": metrics_s},
    }


def translation_scores(direction: str, task: Task | None, predictions: dict,
                       suite: MetricSuite, cfg: dict) -> dict:
    """Table 1's columns for one direction: corpus BLEU, mean BERTScore F1, COMET; and
    ``samples``, their per-sample forms (BLEU: sacrebleu's sufficient statistics per
    segment, whose column sums give the corpus BLEU)."""
    entry = cfg["translation"][direction]
    out = {"dataset": entry if isinstance(entry, str) else str(entry["path"]),
           "n": 0, "bleu": None, "bert_score": None, "comet": None, "reasons": {},
           "samples": {}}
    if task is None:
        out["reasons"] = {k: "missing: test set not found" for k in ("bleu", "bert_score", "comet")}
        return out
    _, lang = languages(direction)
    preds = predictions[task.name]
    refs = [normalize(s.output) for s in task.dataset.samples]
    srcs = [s.input for s in task.dataset.samples]
    out["n"] = len(preds)
    stats = suite.corpus_bleu_stats(preds, refs, lang)
    out["bleu"] = bleu_from_stats([sum(col) for col in zip(*stats)], lang)
    out["samples"] = {"bleu_stats": stats, "bert_score": suite.bert_f1(preds, refs, lang)}
    out["bert_score"] = statistics.fmean(out["samples"]["bert_score"])
    if comet_requested(cfg):
        out["samples"]["comet"], out["comet"] = suite.comet(preds, refs, srcs)
    else:
        out["reasons"]["comet"] = "not requested (evaluation.comet.checkpoint is null)"
    return out


def dev_translation(cfg: dict) -> dict:
    """The translation columns a dev split can score: the directions whose test set is an
    llm-jp-eval dataset (a user's file has no dev split)."""
    return {d: entry for d, entry in cfg["translation"].items() if isinstance(entry, str)}


def dev_split_config(cfg: dict, dev_dir: str | Path, max_samples: int | None,
                     translation: bool = False) -> dict:
    """The evaluation section for the dev split (llm-jp-eval's ``…/evaluation/dev``): its
    directory, ``max_samples`` (None: the test split's), the categories, and with
    ``translation`` the translation columns of ``dev_translation`` (else none: scoring them
    costs BERTScore and COMET passes a category-only choice does not need)."""
    return {**cfg, "dataset_dir": str(dev_dir), "translation": dev_translation(cfg) if translation else {},
            "max_samples": cfg["max_samples"] if max_samples is None else max_samples}


DEV_KEYS = ("AVG", "MT", "categories", "category_reasons", "timings")


def evaluate_dev(model_dir: str | Path, cfg: dict, dev: dict, suite: MetricSuite, loaded,
                 logger=None, tasks: dict[str, Task] | None = None) -> dict:
    """The dev-split scores of a loaded model (``dev``: {"dataset_dir", "max_samples"}), as
    an evaluation JSON's ``dev`` entry: what the recommendation selects on."""
    dcfg = dev_split_config(cfg, dev["dataset_dir"], dev.get("max_samples"), dev.get("translation", False))
    res = evaluate(model_dir, dcfg["dataset_dir"], dcfg, suite=suite, tasks=tasks, loaded=loaded,
                   logger=logger)
    n = {name: d.get("n") for name, d in res["datasets"].items()}
    translation = {d: {k: v for k, v in t.items() if k != "samples"} for d, t in res["translation"].items()}
    return {"dataset_dir": dcfg["dataset_dir"], "max_samples": dcfg["max_samples"], "n": n,
            "translation": translation, **{k: res[k] for k in DEV_KEYS}}


def spare_capacity(model) -> bool:
    """Whether loading the metric models beside generation can shorten the job: the model
    generates on an accelerator, or torch leaves CPU cores unused. With every core in
    torch's threads, the load only slows generation by what it saves (bench/eval: the
    same wall time on 2 cores), so the job loads first, as before."""
    import torch

    return model.device.type != "cpu" or (os.cpu_count() or 1) > torch.get_num_threads()


def job_timings(result: dict) -> dict:
    """The job's ``timings`` plus ``total_s`` (since the process started, interpreter and
    imports included; None off Linux) and ``fixed_s``: total_s minus generation and scoring
    of the test split and of the dev split (``dev.timings``), i.e. everything else."""
    parts = [result["timings"], *([result["dev"]["timings"]] if "dev" in result else [])]
    total = process_seconds()
    busy = sum(t["generate_s"] + t["metrics_s"] for t in parts)
    return {**result["timings"], "total_s": total, "fixed_s": None if total is None else total - busy}


def main(job: EvaluateJob) -> None:
    import torch

    logger = get_logger("evaluate", job.log)
    torch.set_num_threads(max(1, job.threads))
    t0 = time.perf_counter()
    suite = new_suite(job.cfg)
    tasks = prepare(job.cfg["dataset_dir"], job.cfg, suite, logger.info)
    loaded = load_model(job.model_dir)  # once, for the test split and the dev split
    if spare_capacity(loaded[0]):  # the metric models load (imports too) while it generates
        suite.preload_in_background([m for t in tasks.values() for m in t.metrics])
    load_s = time.perf_counter() - t0
    result = evaluate(job.model_dir, job.cfg["dataset_dir"], job.cfg, suite=suite, loaded=loaded,
                      logger=logger, tasks=tasks)
    result["timings"]["load_s"] += load_s
    if job.dev:
        result["dev"] = evaluate_dev(job.model_dir, job.cfg, job.dev, suite, loaded, logger)
    result["timings"] = job_timings(result)
    result = {"base": job.base, "model": job.model, **result}
    write_json(job.out, result)
    logger.info(f"AVG={result['AVG']} MT={result['MT']} -> {job.out}")
