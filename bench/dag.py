"""DAG build time: `snakemake -n` on the plain demo (config.yaml) and on a 1000-point sweep
over its 2 bases.

Run from the repo root: ``python -m bench.dag``. The grid is a TIES sweep, base_share (40
values) x density (25 values), added to the embedded default; every point is validated
against mergekit's registry (its facts: wasurenai.registry) when the DAG is built. Two runs
each, the best kept. Writes bench/results/dag.json, with the figures from before the DAG
build stopped importing mergekit (issue 16) for comparison.

Snakemake's own floor is measured beside it: a Snakefile of trivial shell rules (no input
functions, params, scripts or conda envs) whose DAG has the grid's shape — as many merge
and evaluation jobs, each with the same number of inputs, a log and (evaluation) a
benchmark, all read by one aggregate job. What the workflow costs above that floor is what
its own rules add; the floor itself is Snakemake's per-job work on this machine.
"""
from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
from wasurenai.common import write_json  # noqa: E402

# Before issue 16 (mergekit imported at DAG time): the recorded 1000-point figure, and both
# figures measured again when the issue was filed.
BEFORE = {"grid_recorded_s": 17.6, "grid_remeasured_s": 10.6, "demo_s": 5.9}


def _cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# The floor's Snakefile: the grid's DAG shape (per base: a base model, two CPT models, one
# merge job per point reading all three, one evaluation per model reading it, the datasets
# and the COMET checkpoint) with nothing but Snakemake's own work per job.
FLOOR_SNAKEFILE = """
MODELS = [f"p{{i}}" for i in range({merges})]
wildcard_constraints:
    base="a|b",
    merge="[^/]+",
    model="[^/]+",

rule all:
    input: expand("eval/{{base}}/{{model}}.json", base=["a", "b"], model=["base", "ja-en", "en-ja", *MODELS])
    output: "tables/scores.csv"
    shell: "touch {{output}}"

rule data:
    output: directory("data/datasets"), directory("data/comet")
    shell: "mkdir -p {{output}}"

rule base:
    output: directory("models/base/{{base}}")
    shell: "mkdir -p {{output}}"

rule cpt:
    input: "models/base/{{base}}"
    output: directory("models/cpt/{{base}}/{{direction}}")
    log: "logs/cpt/{{base}}/{{direction}}.log"
    shell: "mkdir -p {{output}}"

rule merge:
    input: base="models/base/{{base}}", x="models/cpt/{{base}}/ja-en", y="models/cpt/{{base}}/en-ja"
    output: directory("models/merged/{{base}}/{{merge}}")
    log: "logs/merge/{{base}}/{{merge}}.log"
    shell: "mkdir -p {{output}}"

def model_dir(w):
    if w.model == "base":
        return f"models/base/{{w.base}}"
    if w.model in ("ja-en", "en-ja"):
        return f"models/cpt/{{w.base}}/{{w.model}}"
    return f"models/merged/{{w.base}}/{{w.model}}"

rule evaluate:
    input: model=model_dir, datasets="data/datasets", comet="data/comet"
    output: "eval/{{base}}/{{model}}.json"
    log: "logs/evaluate/{{base}}/{{model}}.log"
    benchmark: "benchmarks/evaluate/{{base}}/{{model}}.tsv"
    shell: "touch {{output}}"
"""


def dry_run(tmp: str, *overlays: Path, runs: int = 2, snakefile: Path = ROOT / "Snakefile",
            config: bool = True) -> tuple[list[float], list[float], str]:
    """Wall and CPU seconds of each `snakemake -n` (a fresh process each; CPU time varies
    less with the machine's load), and the last run's job summary."""
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(snakefile),
           "--directory", tmp, "-n", "--cores", "1", "-q", "rules"]
    if config:
        cmd += ["--configfile", str(ROOT / "config.yaml"), *map(str, overlays)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    wall, cpu = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), _cpu_children()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        wall.append(time.perf_counter() - t0)
        cpu.append(_cpu_children() - c0)
        if proc.returncode:
            sys.exit(proc.stderr[-3000:])
    return wall, cpu, proc.stdout


def job_count(summary: str, rule: str) -> int:
    """A rule's job count (or the total) from `snakemake -n -q rules`' job stats table."""
    rows = [line.split() for line in summary.splitlines()]
    counts = [int(row[-1]) for row in rows if len(row) == 2 and row[0] == rule and row[1].isdigit()]
    if not counts:
        sys.exit(f"no job count for {rule!r} in snakemake's summary:\n{summary[-2000:]}")
    return counts[0]


def main() -> None:
    shares = [round(0.025 * i, 3) for i in range(40)]
    densities = [round(0.04 * (i + 1), 2) for i in range(25)]
    with tempfile.TemporaryDirectory() as tmp:
        overlay = Path(tmp) / "grid.yaml"
        overlay.write_text(yaml.safe_dump({"sweeps": {"grid": {
            "label": "TIES", "method": "ties", "base_share": shares, "density": densities}}}))
        demo, demo_cpu, _ = dry_run(tmp)
        grid, grid_cpu, out = dry_run(tmp, overlay)
        merge_jobs = job_count(out, "merge")
        floor_dir = Path(tmp) / "floor"
        floor_dir.mkdir()
        (floor_dir / "Snakefile").write_text(FLOOR_SNAKEFILE.format(merges=merge_jobs // 2))
        floor, floor_cpu, floor_out = dry_run(str(floor_dir), snakefile=floor_dir / "Snakefile", config=False)
    if job_count(floor_out, "merge") != merge_jobs:  # the floor's DAG must have the grid's shape
        sys.exit(f"the floor's Snakefile has {job_count(floor_out, 'merge')} merge jobs, the grid {merge_jobs}")
    jobs, floor_jobs = job_count(out, "total"), job_count(floor_out, "total")
    result = {"grid_points": len(shares) * len(densities), "bases": 2, "merge_jobs": merge_jobs,
              "jobs": jobs, "dry_run_s": grid, "best_s": min(grid), "cpu_s": grid_cpu,
              "demo_dry_run_s": demo, "demo_best_s": min(demo), "demo_cpu_s": demo_cpu,
              "snakemake_floor": {"jobs": floor_jobs, "dry_run_s": floor, "best_s": min(floor), "cpu_s": floor_cpu},
              "before": BEFORE, "load_average": list(os.getloadavg()), "cpus": os.cpu_count()}
    print(f"snakemake -n, {result['grid_points']} points x 2 bases ({merge_jobs} merge jobs, {jobs} in all): "
          f"{min(grid):.1f} s (before: {BEFORE['grid_recorded_s']} s recorded, {BEFORE['grid_remeasured_s']} s "
          f"re-measured); Snakemake's floor for that DAG shape ({floor_jobs} trivial jobs): {min(floor):.1f} s; "
          f"demo: {min(demo):.1f} s (before: {BEFORE['demo_s']} s); CPU s: grid {min(grid_cpu):.1f}, floor "
          f"{min(floor_cpu):.1f}, demo {min(demo_cpu):.1f}; load average {os.getloadavg()[0]:.1f}")
    write_json(ROOT / "bench" / "results" / "dag.json", result)


if __name__ == "__main__":
    main()
