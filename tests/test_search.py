"""Searches of merge weights (config `searches`, wasurenai/search.py): the config's checks,
trials on dev through the sweep mode's in-memory merge, a resumable study (SIGKILL), a
reproducible one (fixed seed), failed trials recorded, the front and its merges."""
from __future__ import annotations

import copy
import json
import os
import signal
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from snakemake.io import Namedlist

from helpers_eval import EVAL_CFG, build_model, write_datasets
from wasurenai.common import WorkflowError
from wasurenai.grid import expand_sweep, task_vector_methods
from wasurenai.jobs import SearchFrontJob, SearchPointJob, SearchWorkerJob
from wasurenai.search import (check_search, front, hypervolume, journal_path, main_point,
                              open_study, run_worker, trial_spec, trials_table)

ROLES = ["base", "ja-en", "en-ja"]
DIRECTIONS = ROLES[1:]
CATEGORIES = ["MR", "QA", "NLI", "MC", "MT"]
SPEC = {"label": "TIES search", "method": "ties", "space": {"base_share": [0.0, 1.0], "density": [0.2, 1.0]},
        "objectives": ["AVG", "MT"], "trials": 4, "sampler": "tpe", "seed": 0, "workers": 1,
        "max_samples": 2}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Three tiny models (base, ja-en, en-ja) and datasets with train, dev and test splits."""
    root = tmp_path_factory.mktemp("search")
    models = {r: str(build_model(root / r, seed=i)) for i, r in enumerate(ROLES)}
    test_dir = write_datasets(root / "data")
    for path in (root / "data" / "test").iterdir():  # a dev split: the test sets, reversed
        data = json.loads(path.read_text())
        data["samples"] = data["samples"][::-1]
        (root / "data" / "dev").mkdir(exist_ok=True)
        (root / "data" / "dev" / path.name).write_text(json.dumps(data, ensure_ascii=False))
    cfg = {**copy.deepcopy(EVAL_CFG), "dataset_dir": str(test_dir)}
    return SimpleNamespace(root=root, models=models, cfg=cfg, dev=str(root / "data" / "dev"))


def worker_job(world, out_dir, spec=SPEC, worker=0, models=None) -> SearchWorkerJob:
    smk = SimpleNamespace(
        input=Namedlist(fromdict={**(models or world.models), "datasets": str(world.root / "data")}),
        output=Namedlist([str(out_dir / f"worker{worker}.json")]),
        params=Namedlist(fromdict={"spec": spec, "roles": ROLES, "directions": DIRECTIONS, "cfg": world.cfg,
                                   "dev_dir": world.dev, "study_dir": str(out_dir)}),
        wildcards=SimpleNamespace(base="tiny", search="s", worker=str(worker)),
        log=Namedlist([str(out_dir / f"worker{worker}.log")]), threads=1)
    return SearchWorkerJob.from_snakemake(smk)


def front_job(job: SearchWorkerJob, spec=SPEC) -> SearchFrontJob:
    out = os.path.dirname(job.out)
    smk = SimpleNamespace(
        input=Namedlist(fromdict={"workers": [job.out]}),
        output=Namedlist(fromdict={"trials": f"{out}/trials.csv", "front": f"{out}/front.json"}),
        params=Namedlist(fromdict={"spec": spec, "directions": DIRECTIONS}),
        wildcards=SimpleNamespace(base="tiny", search="s"), log=Namedlist([]), threads=1)
    return SearchFrontJob.from_snakemake(smk)


def trials(job, spec=SPEC) -> pd.DataFrame:
    """Every trial of the job's study, as trials.csv lists them."""
    study = open_study(journal_path(job.study_dir, spec, job.models), "s", spec)
    return trials_table(study, spec)


# --- the config's checks ---------------------------------------------------------------------

@pytest.mark.parametrize("change, key", [
    ({"space": {"density": [0.0, 0.5]}}, "searches.s.space.density"),
    ({"space": {"density": [0.5, 1.5]}}, "searches.s.space.density"),
    ({"space": {"epsilon_typo": [0.1, 0.2]}}, "searches.s.space.epsilon_typo"),
    ({"space": {"parameters": {"no_such": [0.1, 0.2]}}}, "searches.s.space.parameters.no_such"),
    ({"space": {"base_share": [0.5, 0.5]}}, "searches.s.space.base_share"),
    ({"space": {"base_share": [0.2, 1.2]}}, "searches.s.space.base_share"),
    ({"space": {"weights": {"xx-yy": [0.1, 0.9]}}}, "searches.s.space.weights.xx-yy"),
    ({"objectives": ["AVG", "BLEU"]}, "searches.s.objectives"),
    ({"objectives": ["AVG", "MT"], "sampler": "cmaes"}, "searches.s.sampler"),
    ({"objectives": ["AVG"], "sampler": "nsga2"}, "searches.s.sampler"),
    ({"method": "slerp"}, "searches.s.method"),
    ({"method": "no_such_method"}, "searches.s.method"),
])
def test_a_space_or_objective_the_method_cannot_take_fails_naming_the_key(change, key):
    spec = {**SPEC, **change}
    with pytest.raises(WorkflowError) as err:
        check_search("s", spec, DIRECTIONS, ROLES, CATEGORIES, task_vector_methods())
    assert str(err.value).startswith(key), err.value


def test_a_valid_search_passes_and_a_trial_is_a_sweep_point():
    check_search("s", SPEC, DIRECTIONS, ROLES, CATEGORIES, task_vector_methods())
    got = trial_spec("s", SPEC, {"base_share": 0.3, "density": 0.5}, DIRECTIONS, task_vector_methods())
    (want,) = expand_sweep("s", {"method": "ties", "base_share": 0.3, "density": 0.5}, DIRECTIONS,
                           task_vector_methods()).values()
    for key in ("method", "weights", "density", "parameters"):
        assert got[key] == want[key]
    assert got["parameters"]["normalize"] is False  # as a base_share sweep: s is not cancelled


# --- the study ---------------------------------------------------------------------------------

def test_a_search_runs_its_budget_on_dev_and_a_fixed_seed_repeats_its_trials(world, tmp_path):
    runs = []
    for run in ("a", "b"):
        job = worker_job(world, tmp_path / run)
        done = run_worker(job)
        assert done["trials"] == [0, 1, 2, 3]
        runs.append(trials(job))
    a, b = runs
    assert (a["state"] == "COMPLETE").all() and len(a) == SPEC["trials"]
    assert a[["base_share", "density", "objective AVG", "objective MT"]].equals(
        b[["base_share", "density", "objective AVG", "objective MT"]])
    assert a["base_share"].nunique() == len(a)  # really different proposals
    assert a["front"].any() and (a["seconds"] > 0).all()
    # dev, not test: the trial's AVG is the dev split's
    assert set(a["dev AVG"]) == set(a["objective AVG"])


def test_a_killed_worker_resumes_without_repeating_finished_trials(world, tmp_path):
    job = worker_job(world, tmp_path / "kill")
    driver = tmp_path / "driver.py"
    driver.write_text(
        "import os, pickle, signal, sys\n"
        "from wasurenai.search import run_worker\n"
        "job = pickle.load(open(sys.argv[1], 'rb'))\n"
        "def hook(trial):\n"
        "    if trial.number == 2:\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "run_worker(job, trial_hook=hook)\n")
    import pickle

    (tmp_path / "job.pkl").write_bytes(pickle.dumps(job))
    proc = subprocess.run([sys.executable, str(driver), str(tmp_path / "job.pkl")], capture_output=True,
                          text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    assert not os.path.exists(job.out)  # the job's output only appears at the end
    before = trials(job)
    assert list(before["state"]) == ["COMPLETE", "COMPLETE", "RUNNING"]

    run_worker(job)
    after = trials(job)
    assert after["state"].value_counts().to_dict() == {"COMPLETE": 4, "FAIL": 1}
    assert bool(after.loc[2, "interrupted"]) and after.loc[2, "state"] == "FAIL"
    kept = ["base_share", "density", "objective AVG", "objective MT"]
    assert after.loc[:1, kept].equals(before.loc[:1, kept])  # finished trials kept, not rerun
    assert json.loads(open(job.out).read())["trials"] == [3, 4]


def test_retrained_input_models_start_a_new_study(world, tmp_path):
    models = {r: str(tmp_path / "models" / r) for r in ROLES}
    for role, path in models.items():
        shutil.copytree(world.models[role], path)
    job = worker_job(world, tmp_path / "retrain", spec={**SPEC, "trials": 2}, models=models)
    first = run_worker(job)
    assert run_worker(job)["journal"] == first["journal"]  # same models: the same study, nothing to do
    weights = next(Path(models["ja-en"]).glob("*.safetensors"))
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 10**9))
    again = run_worker(job)
    assert again["journal"] != first["journal"] and again["trials"] == [0, 1]


def test_a_failing_trial_is_recorded_and_the_study_goes_on(world, tmp_path):
    odd = str(build_model(tmp_path / "odd", hidden=48, seed=5))  # another shape: mergekit cannot merge it
    job = worker_job(world, tmp_path / "fail", spec={**SPEC, "trials": 2}, models={**world.models, "en-ja": odd})
    assert run_worker(job)["trials"] == []
    table = trials(job, {**SPEC, "trials": 2})
    assert list(table["state"]) == ["FAIL", "FAIL"]
    assert table["error"].str.contains("differ in hidden_size").all()


def test_a_journal_of_another_search_space_is_refused_naming_the_file(world, tmp_path):
    journal = tmp_path / "study.journal"
    open_study(journal, "s", SPEC)
    with pytest.raises(WorkflowError, match=str(journal)):
        open_study(journal, "s", {**SPEC, "space": {"base_share": [0.0, 0.5]}})
    open_study(journal, "s", {**SPEC, "trials": 9})  # a larger budget is the same search


def test_front_points_are_merged_from_their_recorded_spec(world, tmp_path):
    job = worker_job(world, tmp_path / "front")
    run_worker(job)
    result = front(front_job(job))
    table = pd.read_csv(tmp_path / "front" / "trials.csv")
    assert set(result["points"]) == {f"s-trial{n}" for n in table.loc[table["front"], "trial"]}
    name, point = next(iter(result["points"].items()))
    row = table.set_index("trial").loc[point["trial"]]
    assert point["dev"] == pytest.approx({"AVG": row["objective AVG"], "MT": row["objective MT"]})
    smk = SimpleNamespace(
        input=Namedlist(fromdict={"front": str(tmp_path / "front" / "front.json"), **world.models}),
        output=Namedlist([str(tmp_path / "merged")]), params=Namedlist(fromdict={"roles": ROLES}),
        wildcards=SimpleNamespace(base="tiny", search="s", trial=str(point["trial"])),
        log=Namedlist([]), threads=1)
    main_point(SearchPointJob.from_snakemake(smk))
    written = (tmp_path / "merged" / "mergekit_config.yml").read_text()
    assert "merge_method: ties" in written and f"density: {point['spec']['density']}" in written


def test_hypervolume_is_the_dominated_area_above_the_reference():
    assert hypervolume([[1.0, 1.0]], [0.0, 0.0]) == pytest.approx(1.0)
    assert hypervolume([[2.0, 1.0], [1.0, 2.0]], [0.0, 0.0]) == pytest.approx(3.0)
    assert hypervolume([[2.0, 1.0], [-1.0, 5.0]], [0.0, 0.0]) == pytest.approx(2.0)  # below ref: nothing
    assert hypervolume([], [0.0, 0.0]) == 0.0
