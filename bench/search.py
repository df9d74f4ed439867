"""A search's cost per trial against the sweep mode's per point, and (after ``make demo``) the
test hypervolume of the demo search's front against the Figure 2 grids'.

Run from the repo root: ``python -m bench.search``. Part 1 is bench/sweep's setup: three
random Llama models of the demo architecture (hidden 128, 4 layers), the test helper
datasets (4-shot, 5 samples per dataset, no COMET), 8 points. The sweep mode evaluates 8
linear base-share points in one process; the search runs 8 TPE trials over base_share in one
process on the same datasets (as its dev split) and the same sample count, so a trial and a
point evaluate the same prompts: the difference is Optuna's ask/tell, the journal and the
sampled weights. Both exclude process start and imports (each pays them once per job).

Part 2 reads a finished demo (results/ in the working directory, if present): per base, the
test hypervolume over (AVG, MT) of the search's front points and of the Figure 2 sweep points,
over the search table's reference point (the CPT models' worse AVG, the base's MT).
Writes bench/results/search.json.
"""
from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tests.helpers_eval import EVAL_CFG, build_model, write_datasets  # noqa: E402
from wasurenai.common import write_json  # noqa: E402
from wasurenai.grid import expand_sweep  # noqa: E402

ROLES = ["base", "ja-en", "en-ja"]
SHARES = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1"}
SEARCH = {"method": "linear", "space": {"base_share": [0.0, 1.0]}, "objectives": ["AVG", "MT"],
          "trials": len(SHARES), "sampler": "tpe", "seed": 0, "workers": 1}


def py(code: str) -> None:
    subprocess.run([sys.executable, "-c", code], check=True, env=ENV, capture_output=True, cwd=ROOT)


def per_trial_vs_per_point() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        models = {r: str(build_model(tmp / r, hidden=128, layers=4, seed=i)) for i, r in enumerate(ROLES)}
        data = write_datasets(tmp / "data")
        cfg = copy.deepcopy(EVAL_CFG)
        cfg.update(num_few_shots=4, dataset_dir=str(data))
        points = expand_sweep("lin", {"label": "L", "method": "linear", "base_share": SHARES}, ROLES[1:], set())
        spec = {**SEARCH, "max_samples": cfg["max_samples"]}
        for name, obj in (("points", points), ("cfg", cfg), ("models", models), ("spec", spec)):
            (tmp / f"{name}.json").write_text(json.dumps(obj))
        load = ("import json, time; "
                + "; ".join(f"{n}=json.load(open('{tmp}/{n}.json'))" for n in ("points", "cfg", "models", "spec"))
                + "; from wasurenai.merge import job_environment; job_environment(); ")
        py(load + "from wasurenai.sweep_mode import run_sweep;"
           f" s = run_sweep('b', points, models, '{data}', cfg, {{p: '{tmp}/s/' + p + '.json' for p in points}});"
           f" json.dump(s, open('{tmp}/sweep.json', 'w'))")
        py(load + "from wasurenai.jobs import SearchWorkerJob;"
           " from wasurenai.search import journal_path, run_worker, open_study;"
           f" job = SearchWorkerJob(search='s', base='b', worker=0, spec=spec, directions={ROLES[1:]!r},"
           f" models=models, cfg=cfg, dev_dir='{data}', study_dir='{tmp}', out='{tmp}/w.json');"
           " t0 = time.perf_counter(); run_worker(job); total = time.perf_counter() - t0;"
           " st = open_study(journal_path(job.study_dir, spec, models), 's', spec);"
           " json.dump({'total_s': total, 'trial_s': [t.user_attrs['seconds'] for t in st.trials]},"
           f" open('{tmp}/search.json', 'w'))")
        sweep = json.loads((tmp / "sweep.json").read_text())
        search = json.loads((tmp / "search.json").read_text())
    per_point = sum(sweep.values()) / len(sweep)
    per_trial = sum(search["trial_s"]) / len(search["trial_s"])
    return {"points": len(sweep), "trials": len(search["trial_s"]), "sweep_point_s": per_point,
            "search_trial_s": per_trial, "trial_over_point": per_trial / per_point,
            "search_job_total_s": search["total_s"]}


def demo_hypervolumes(results: Path) -> dict | None:
    """Per base of a finished demo: the search front's and the Figure 2 grid's test hypervolume."""
    import pandas as pd

    from wasurenai.search import hypervolume
    from wasurenai.search_report import reference_point

    front_csv = results / "tables" / "search_frontier.csv"
    if not front_csv.is_file():
        return None
    scores = pd.read_csv(results / "tables" / "scores.csv")
    front = pd.read_csv(front_csv)
    out = {}
    for base, rows in front.groupby("base"):
        ref = reference_point(scores, base, ["AVG", "MT"])
        grid = scores[(scores["base"] == base) & (scores["kind"] == "sweep")][["AVG", "MT"]].values.tolist()
        trials = pd.read_csv(results / "search" / base / "frontier" / "trials.csv")
        out[base] = {"reference": ref, "grid_points": len(grid), "grid_hypervolume": hypervolume(grid, ref),
                     "front_points": len(rows), "trials": len(trials),
                     "front_hypervolume": hypervolume(rows[["test AVG", "test MT"]].values.tolist(), ref)}
    return out


def main() -> None:
    cost = per_trial_vs_per_point()
    print(f"per trial {cost['search_trial_s']:.2f} s, per sweep point {cost['sweep_point_s']:.2f} s "
          f"({cost['trial_over_point']:.2f}x)")
    result = {"threads": os.cpu_count(), "cost": cost, "demo": demo_hypervolumes(ROOT / "results")}
    if result["demo"]:
        for base, hv in result["demo"].items():
            print(f"{base}: front {hv['front_hypervolume']:.5f} ({hv['front_points']} points of {hv['trials']} "
                  f"trials) vs grid {hv['grid_hypervolume']:.5f} ({hv['grid_points']} points)")
    write_json(ROOT / "bench" / "results" / "search.json", result)


if __name__ == "__main__":
    main()
