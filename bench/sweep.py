"""Sweep mode vs merge-then-evaluate, seconds per grid point, on demo-sized models.

Run from the repo root: ``python bench/sweep.py``. Three random Llama models of the demo
architecture (hidden 128, 4 layers) and the test helper datasets (4-shot, 5 samples per
dataset, the demo's metric set without COMET). Merge-then-evaluate runs as the workflow
runs it: one fresh Python process per merge and one per evaluation (each pays its imports,
as a Snakemake job does; Snakemake's own job overhead is not counted). Sweep mode runs one
process for all points (``wasurenai.sweep_mode.run_sweep``). Writes bench/results/sweep.json.
"""
from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tests.helpers_eval import EVAL_CFG, build_model, write_datasets  # noqa: E402
from wasurenai.common import write_json  # noqa: E402
from wasurenai.grid import expand_sweep  # noqa: E402

ROLES = ["base", "ja-en", "en-ja"]
SHARES = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
CLASSIC_POINTS = 3  # merge-then-evaluate is timed on the first few points (it is per point)
ENV = {**os.environ, "HF_HUB_OFFLINE": "1"}


def py(code: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=ENV, capture_output=True, cwd=ROOT)
    return time.perf_counter() - t0


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        models = {r: str(build_model(tmp / r, hidden=128, layers=4, seed=i)) for i, r in enumerate(ROLES)}
        data = write_datasets(tmp / "data")
        cfg = copy.deepcopy(EVAL_CFG)
        cfg["num_few_shots"] = 4
        points = expand_sweep("lin", {"label": "L", "method": "linear",
                                      "base_share": SHARES}, ROLES[1:], set())
        (tmp / "points.json").write_text(json.dumps(points))
        (tmp / "cfg.json").write_text(json.dumps(cfg))
        (tmp / "models.json").write_text(json.dumps(models))
        load = (f"import json; P=json.load(open('{tmp}/points.json')); C=json.load(open('{tmp}/cfg.json'));"
                f" M=json.load(open('{tmp}/models.json'));")
        classic = []
        for name in list(points)[:CLASSIC_POINTS]:
            merge_s = py(load + "from wasurenai.merge import job_environment, merge; job_environment();"
                         f" merge('{name}', P['{name}'], M, '{tmp}/m/{name}')")
            eval_s = py(load + "from wasurenai.evaluation import evaluate; from wasurenai.common import write_json;"
                        f" write_json('{tmp}/e/{name}.json', evaluate('{tmp}/m/{name}', '{data}', C))")
            classic.append({"point": name, "merge_s": merge_s, "evaluate_s": eval_s})
            print(f"merge-then-evaluate {name}: merge {merge_s:.1f} s + evaluate {eval_s:.1f} s")
        sweep_s = py(load + "from wasurenai.merge import job_environment; job_environment();"
                     " from wasurenai.sweep_mode import run_sweep;"
                     f" s = run_sweep('b', P, M, '{data}', C, {{p: '{tmp}/s/' + p + '.json' for p in P}});"
                     f" json.dump(s, open('{tmp}/sweep_points.json', 'w'))")
        inner = json.loads((tmp / "sweep_points.json").read_text())
    per_classic = sum(c["merge_s"] + c["evaluate_s"] for c in classic) / len(classic)
    per_sweep = sweep_s / len(points)
    result = {"points": len(points), "threads": os.cpu_count(), "merge_then_evaluate": classic,
              "sweep_mode_total_s": sweep_s, "sweep_mode_point_s": inner,
              "sweep_mode_fixed_s": sweep_s - sum(inner.values()), "per_point_s": {"merge_then_evaluate": per_classic,
                                                            "sweep_mode": per_sweep},
              "speedup": per_classic / per_sweep}
    print(f"per point: merge-then-evaluate {per_classic:.1f} s, sweep mode {per_sweep:.1f} s "
          f"({result['speedup']:.1f}x)")
    write_json(ROOT / "bench" / "results" / "sweep.json", result)


if __name__ == "__main__":
    main()
