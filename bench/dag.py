"""DAG build time: `snakemake -n` on the plain demo (config.yaml) and on a 1000-point sweep
over its 2 bases.

Run from the repo root: ``python -m bench.dag``. The grid is a TIES sweep, base_share (40
values) x density (25 values), added to the embedded default; every point is validated
against mergekit's registry (its facts: wasurenai.registry) when the DAG is built. Two runs
each, the best kept. Writes bench/results/dag.json, with the figures from before the DAG
build stopped importing mergekit (issue 16) for comparison.
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


def dry_run(tmp: str, *overlays: Path, runs: int = 2) -> tuple[list[float], list[float], str]:
    """Wall and CPU seconds of each `snakemake -n` (a fresh process each; CPU time varies
    less with the machine's load), and the last run's job summary."""
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"),
           "--directory", tmp, "-n", "--cores", "1", "-q", "rules",
           "--configfile", str(ROOT / "config.yaml"), *map(str, overlays)]
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


def main() -> None:
    shares = [round(0.025 * i, 3) for i in range(40)]
    densities = [round(0.04 * (i + 1), 2) for i in range(25)]
    with tempfile.TemporaryDirectory() as tmp:
        overlay = Path(tmp) / "grid.yaml"
        overlay.write_text(yaml.safe_dump({"sweeps": {"grid": {
            "label": "TIES", "method": "ties", "base_share": shares, "density": densities}}}))
        demo, demo_cpu, _ = dry_run(tmp)
        grid, grid_cpu, out = dry_run(tmp, overlay)
    merges = [line for line in out.splitlines() if line.startswith("merge ")]
    result = {"grid_points": len(shares) * len(densities), "bases": 2,
              "merge_jobs": int(merges[0].split()[-1]) if merges else None,
              "dry_run_s": grid, "best_s": min(grid), "cpu_s": grid_cpu,
              "demo_dry_run_s": demo, "demo_best_s": min(demo), "demo_cpu_s": demo_cpu,
              "before": BEFORE, "load_average": list(os.getloadavg()), "cpus": os.cpu_count()}
    print(f"snakemake -n, {result['grid_points']} points x 2 bases ({result['merge_jobs']} merge jobs): "
          f"{min(grid):.1f} s (before: {BEFORE['grid_recorded_s']} s recorded, {BEFORE['grid_remeasured_s']} s "
          f"re-measured); demo: {min(demo):.1f} s (before: {BEFORE['demo_s']} s); CPU s: grid "
          f"{min(grid_cpu):.1f}, demo {min(demo_cpu):.1f}; load average {os.getloadavg()[0]:.1f}")
    write_json(ROOT / "bench" / "results" / "dag.json", result)


if __name__ == "__main__":
    main()
