"""Sweep mode: in-memory merge + evaluation gives the JSON that merge + evaluate gives."""
from __future__ import annotations

import copy
import json
import shutil
from types import SimpleNamespace

from snakemake.io import Namedlist

from helpers_eval import EVAL_CFG, build_model, write_datasets
from wasurenai import evaluation as E
from wasurenai.grid import expand_sweep
from wasurenai.jobs import SweepJob
from wasurenai.merge import merge
from wasurenai.sweep_mode import main

ROLES = ["base", "ja-en", "en-ja"]


def without_run_details(res: dict) -> dict:
    res = dict(res)
    res.pop("timings")
    res.pop("model_path")
    if "dev" in res:
        res["dev"] = {k: v for k, v in res["dev"].items() if k != "timings"}
    return res


def test_in_memory_sweep_equals_merge_then_evaluate(tmp_path):
    models = {r: str(build_model(tmp_path / r, seed=i)) for i, r in enumerate(ROLES)}
    data = write_datasets(tmp_path / "data")
    cfg = copy.deepcopy(EVAL_CFG)
    cfg["max_samples"] = 3
    cfg["dataset_dir"] = str(data)  # the job reads its datasets from the evaluation config
    shutil.copytree(data, data.parent / "dev")  # a dev split beside it, scored as rule evaluate does
    dev = {"dataset_dir": str(data.parent / "dev"), "max_samples": 2}
    points = expand_sweep("s", {"label": "S", "method": "dare_ties", "base_share": [0.2, 0.6],
                                "density": 0.5, "seed": 3}, ROLES[1:], {"dare_ties"})
    outputs = [tmp_path / "eval" / f"{p}.json" for p in points]
    smk = SimpleNamespace(
        input=Namedlist(fromdict={**models, "datasets": str(data)}),
        output=Namedlist([str(o) for o in outputs]),
        params=Namedlist(fromdict={"roles": ROLES, "points": points, "cfg": cfg, "dev": dev}),
        wildcards=SimpleNamespace(base="tiny"), log=Namedlist([str(tmp_path / "sweep.log")]), threads=1,
    )
    main(SweepJob.from_snakemake(smk))
    suite = E.new_suite(cfg, "cpu")
    for (name, spec), out in zip(points.items(), outputs):
        merge(name, spec, models, tmp_path / "merged" / name)
        loaded = E.load_model(tmp_path / "merged" / name)
        ref = E.evaluate(tmp_path / "merged" / name, data, cfg, suite=suite, loaded=loaded)
        ref["dev"] = E.evaluate_dev(tmp_path / "merged" / name, cfg, dev, suite, loaded)
        got = json.loads(out.read_text())
        assert (got["base"], got["model"]) == ("tiny", name)
        assert "in memory" in got["model_path"]
        ref = {"base": "tiny", "model": name, **ref}
        assert without_run_details(got) == json.loads(json.dumps(without_run_details(ref)))
    a, b = (json.loads(o.read_text()) for o in outputs)
    assert a["predictions"] != b["predictions"]  # the points really differ
