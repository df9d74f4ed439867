"""DAG build time for a large merge grid: `snakemake -n` on a 1000-point sweep over 2 bases.

Run from the repo root: ``python bench/dag.py``. The grid is a TIES sweep, base_share (40
values) x density (25 values), added to the embedded default; every point is validated
against mergekit's registry when the DAG is built. Writes bench/results/dag.json.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
from wasurenai.common import write_json  # noqa: E402


def main() -> None:
    shares = [round(0.025 * i, 3) for i in range(40)]
    densities = [round(0.04 * (i + 1), 2) for i in range(25)]
    with tempfile.TemporaryDirectory() as tmp:
        overlay = Path(tmp) / "grid.yaml"
        overlay.write_text(yaml.safe_dump({"sweeps": {"grid": {
            "label": "TIES", "method": "ties", "base_share": shares, "density": densities}}}))
        cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"),
               "--directory", tmp, "-n", "--cores", "1", "-q", "rules",
               "--configfile", str(ROOT / "config.yaml"), str(overlay)]
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        runs = []
        for _ in range(2):
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
            runs.append(time.perf_counter() - t0)
            if proc.returncode:
                sys.exit(proc.stderr[-3000:])
        merges = [line for line in proc.stdout.splitlines() if line.startswith("merge ")]
    result = {"grid_points": len(shares) * len(densities), "bases": 2,
              "merge_jobs": int(merges[0].split()[-1]) if merges else None,
              "dry_run_s": runs, "best_s": min(runs)}
    print(f"snakemake -n, {result['grid_points']} points x 2 bases "
          f"({result['merge_jobs']} merge jobs): {min(runs):.1f} s")
    write_json(ROOT / "bench" / "results" / "dag.json", result)


if __name__ == "__main__":
    main()
