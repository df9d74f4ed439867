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
    ({"layerwise": {"filters": ["self_atn"]}}, "searches.s.layerwise.filters"),
    ({"layerwise": {"filters": ["mlp", "mlp.down_proj"]}}, "searches.s.layerwise.filters"),  # shadowed
    ({"layerwise": {"filters": ["mlp"], "depth_points": 1}}, "searches.s.layerwise.depth_points"),
    ({"layerwise": {"keys": ["density"]}}, "searches.s.layerwise"),  # neither filters nor depth points
    ({"layerwise": {"depth_points": 2, "keys": ["epsilon"]}}, "searches.s.layerwise.keys"),
    ({"space": {"density": [0.2, 1.0], "parameters": {"lambda": [0.5, 1.0]}},
      "layerwise": {"depth_points": 2, "keys": ["parameters.lambda"]}}, "searches.s.layerwise.keys"),
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


LAYERWISE = {**SPEC, "trials": 2, "layerwise": {"filters": ["self_attn", "mlp"], "depth_points": 2}}


def test_a_layerwise_trial_is_mergekits_filter_and_gradient_lists_per_family_and_depth(tmp_path):
    """Linear over base_share per (family, depth point) on a 3-layer model: each tensor of the
    in-memory merge is s * base + (1 - s) / 2 * (ja-en + en-ja) with s its family's gradient at
    t = layer / 2 (mergekit), the weights of each cell from grid.share_weights (one definition)."""
    import torch
    from safetensors.torch import load_file

    from wasurenai.evaluation import load_model
    from wasurenai.merge import mergekit_config, merge_into

    spec = {**SPEC, "method": "linear", "space": {"base_share": [0.0, 1.0]},
            "layerwise": {"filters": ["self_attn"], "depth_points": 2}}
    check_search("s", spec, DIRECTIONS, ROLES, CATEGORIES, task_vector_methods())
    values = {"base_share@self_attn/0": 0.2, "base_share@self_attn/1": 0.8,
              "base_share@other/0": 0.5, "base_share@other/1": 0.9}
    point = trial_spec("s", spec, values, DIRECTIONS, task_vector_methods())
    assert point["weights"]["base"] == [{"filter": "self_attn", "value": [0.2, 0.8]}, {"value": [0.5, 0.9]}]
    assert point["weights"]["ja-en"][0] == {"filter": "self_attn", "value": [0.4, pytest.approx(0.1)]}
    models = {r: str(build_model(tmp_path / r, layers=3, seed=i)) for i, r in enumerate(ROLES)}
    model, _ = load_model(models["base"], "cpu")
    merge_into(mergekit_config("s", point, models), model)
    got = dict(model.named_parameters())
    inputs = [load_file(next(Path(models[r]).glob("*.safetensors"))) for r in ROLES]
    for name, share in [("layers.0.self_attn.q_proj", 0.2), ("layers.1.self_attn.o_proj", 0.5),
                        ("layers.2.self_attn.k_proj", 0.8), ("layers.1.mlp.down_proj", 0.7),
                        ("layers.2.input_layernorm", 0.9), ("embed_tokens", 0.5)]:  # embeddings: t = 0
        name = f"model.{name}.weight"
        base, ja_en, en_ja = (t[name] for t in inputs)
        want = share * base + (1 - share) / 2 * (ja_en + en_ja)
        assert torch.allclose(got[name], want, atol=1e-6), name


# --- the study ---------------------------------------------------------------------------------

def test_a_translation_column_is_an_objective_where_its_test_set_has_a_dev_split(world, tmp_path):
    """"ja-en BLEU" (an llm-jp-eval dataset, so it has a dev split) is an objective: the
    trials score the dev split's corpus BLEU; where the test set is a file it is refused."""
    spec = {**SPEC, "objectives": ["AVG", "ja-en BLEU"], "trials": 2}
    with pytest.raises(WorkflowError, match=r"searches.s.objectives: 'ja-en BLEU' is not .* \(none here\)"):
        check_search("s", spec, DIRECTIONS, ROLES, CATEGORIES, task_vector_methods())
    check_search("s", spec, DIRECTIONS, ROLES, CATEGORIES, task_vector_methods(), ["ja-en"])
    job = worker_job(world, tmp_path, spec)
    run_worker(job)
    table = trials(job, spec)
    assert (table["state"] == "COMPLETE").all(), table["error"].tolist()
    from wasurenai.evaluation import dev_split_config, evaluate
    from wasurenai.merge import merge

    row = table.iloc[0]  # trial 0 merged to disk and scored on dev alone gives its objective
    point = trial_spec("s", spec, {"base_share": row["base_share"], "density": row["density"]}, DIRECTIONS,
                       task_vector_methods())
    merge("p", point, world.models, tmp_path / "p")
    alone = evaluate(tmp_path / "p", world.dev, dev_split_config(world.cfg, world.dev, SPEC["max_samples"], True))
    assert row["objective ja-en BLEU"] == pytest.approx(alone["translation"]["ja-en"]["bleu"])
    assert row["objective AVG"] == pytest.approx(alone["AVG"])


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
    with pytest.raises(WorkflowError, match=str(journal)):  # a layer-wise space is another space
        open_study(journal, "s", {**SPEC, "layerwise": {"filters": ["mlp"]}})
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


def test_a_layerwise_front_point_merged_to_disk_equals_its_in_memory_trial(world, tmp_path):
    import torch
    from safetensors.torch import load_file

    from wasurenai.evaluation import load_model
    from wasurenai.merge import mergekit_config, merge_into

    job = worker_job(world, tmp_path / "lw", spec=LAYERWISE)
    assert run_worker(job)["trials"] == [0, 1]
    result = front(front_job(job, spec=LAYERWISE))
    table = pd.read_csv(tmp_path / "lw" / "trials.csv")
    cells = [f"density@{f}/{d}" for f in ("self_attn", "mlp", "other") for d in (0, 1)]
    assert table[cells].notna().all().all() and table[cells].iloc[0].nunique() == len(cells)
    name, point = next(iter(result["points"].items()))
    assert [e.get("filter") for e in point["spec"]["density"]] == ["self_attn", "mlp", None]
    smk = SimpleNamespace(
        input=Namedlist(fromdict={"front": str(tmp_path / "lw" / "front.json"), **world.models}),
        output=Namedlist([str(tmp_path / "merged")]), params=Namedlist(fromdict={"roles": ROLES}),
        wildcards=SimpleNamespace(base="tiny", search="s", trial=str(point["trial"])),
        log=Namedlist([]), threads=1)
    main_point(SearchPointJob.from_snakemake(smk))
    model, _ = load_model(world.models["base"], "cpu")
    merge_into(mergekit_config(name, point["spec"], world.models), model)
    on_disk = {}
    for shard in (tmp_path / "merged").glob("*.safetensors"):
        on_disk.update(load_file(shard))
    for key, tensor in model.named_parameters():
        assert torch.equal(tensor, on_disk[key]), key


def test_a_layerwise_filter_that_matches_no_tensor_fails_the_worker_before_a_trial(world, tmp_path):
    spec = {**LAYERWISE, "layerwise": {"filters": ["c_attn"]}}  # GPT-2's attention, not Llama's
    check_search("s", spec, DIRECTIONS, ROLES, CATEGORIES, task_vector_methods())
    with pytest.raises(WorkflowError, match="searches.s.layerwise.filters: 'c_attn' matches no tensor"):
        run_worker(worker_job(world, tmp_path / "nomatch", spec=spec))


def test_search_report_compares_the_grid_and_the_trials_on_dev_where_comparable():
    """Every model scored on the trials' dev samples: the grid's dev hypervolume, the dev
    front's after each trial, and the trial after which the search first matched the grid."""
    import pandas as pd

    from wasurenai.search_report import dev_comparison

    scores = pd.DataFrame([
        {"base": "b", "kind": "base", "dev AVG": 0.5, "dev MT": 0.2},
        {"base": "b", "kind": "cpt", "dev AVG": 0.3, "dev MT": 0.6},
        {"base": "b", "kind": "merge", "dev AVG": 0.45, "dev MT": 0.4},  # grid: (0.15 x 0.2) = 0.03
    ])
    trials = pd.DataFrame([
        {"trial": 0, "state": "COMPLETE", "objective AVG": 0.4, "objective MT": 0.3},   # 0.1 x 0.1
        {"trial": 1, "state": "FAIL", "objective AVG": None, "objective MT": None},
        {"trial": 2, "state": "COMPLETE", "objective AVG": 0.42, "objective MT": 0.45},  # 0.12 x 0.25
    ])
    job = SimpleNamespace(spec={"objectives": ["AVG", "MT"]}, dev_comparable=True)
    got = dev_comparison(job, trials, scores, "b")
    assert got["hypervolume (grid, dev)"] == pytest.approx(0.03)
    assert got["history"] == pytest.approx([0.01, 0.01, 0.03])
    assert got["trials to match the grid (dev)"] == 3
    assert dev_comparison(SimpleNamespace(**{**vars(job), "dev_comparable": False}), trials, scores, "b") == {}
    assert dev_comparison(job, trials.iloc[:2], scores, "b")["trials to match the grid (dev)"] is None
