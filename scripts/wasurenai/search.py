"""Beyond the paper: search the merge weights for the whole trade-off (config ``searches``).

A search names a mergekit method with per-model weights, a space of ranges over the merge
spec's numbers (``base_share`` or per-role ``weights``, the method's per-model parameters
such as ``density``, its method ``parameters``), the objectives (score columns, all
maximised), a trial budget, a sampler and a seed. Optuna proposes the trials:

- each trial turns the sampled values into an ordinary merge spec (``trial_spec``: the same
  expansion as a sweep's grid point, so ``base_share`` means what it means there), merges it
  in memory into a model loaded once per job (the sweep mode's ``merge.merge_into``) and
  scores it on the **dev** split with the search's own ``max_samples``;
- the study lives in an Optuna journal file beside the outputs, which parallel workers on a
  shared filesystem append to; a worker killed mid-trial is resumed by running it again:
  its unfinished trial is marked failed (``interrupted``) and proposed afresh, the finished
  ones are kept; a trial whose merge or evaluation fails is recorded with its error and the
  study goes on;
- once every worker has finished, ``front`` lists every trial (``trials.csv``) and the
  Pareto front on dev (Optuna's ``best_trials``); the front's points are then merged to disk
  and evaluated on the test split like any merge.

The study remembers its search space (``space_key``): a journal written for another space
is refused, naming the file, rather than mixed in.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
import time
from pathlib import Path

from .common import WorkflowError, atomic_open, get_logger, read_json, write_json

SAMPLERS = ("tpe", "nsga2", "cmaes")
SINGLE_OBJECTIVE_SAMPLERS = ("tpe", "cmaes")
# Keys of a search that are not part of the merge spec it samples.
SEARCH_KEYS = ("method", "label", "space", "fixed", "objectives", "trials", "sampler", "seed",
               "workers", "max_samples", "front_points")
STUDY_ATTR = "wasurenai_space"


# --- the config ----------------------------------------------------------------------------

def space_items(spec: dict) -> list[tuple[str, float, float]]:
    """[(dotted key, low, high)] of a search's space, in the order it is written: ``base_share``,
    ``weights.<role>``, a per-model parameter (``density``), ``parameters.<name>``."""
    items = []
    for key, value in (spec.get("space") or {}).items():
        if key in ("weights", "parameters") and isinstance(value, dict):
            items += [(f"{key}.{sub}", *_range(f"space.{key}.{sub}", v)) for sub, v in value.items()]
        else:
            items.append((key, *_range(f"space.{key}", value)))
    return items


def _range(key: str, value) -> tuple[float, float]:
    ok = (isinstance(value, (list, tuple)) and len(value) == 2
          and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value))
    if not ok:
        raise WorkflowError(f"{key}: a range [low, high] of two numbers, got {value!r}")
    low, high = float(value[0]), float(value[1])
    if not low < high:
        raise WorkflowError(f"{key}: an empty range [{low}, {high}] (low must be below high)")
    return low, high


def trial_spec(name: str, spec: dict, values: dict[str, float], directions: list[str],
               task_vector_methods: set[str]) -> dict:
    """The merge spec of one trial: the search's method and ``fixed`` keys, with ``values``
    (dotted key -> number) in place, expanded as a sweep's grid point is (grid.expand_sweep)."""
    from .grid import expand_sweep

    point = {"method": spec["method"], **(spec.get("fixed") or {})}
    for key, value in values.items():
        head, _, sub = key.partition(".")
        if sub:
            point.setdefault(head, {})
            point[head] = {**point[head], sub: value}
        else:
            point[key] = value
    (expanded,) = expand_sweep(name, point, directions, task_vector_methods).values()
    for key in ("sweep", "point"):
        expanded.pop(key, None)
    expanded["label"] = spec.get("label", name)
    return expanded


def check_search(name: str, spec: dict, directions: list[str], roles: list[str],
                 categories: list[str], task_vector_methods: set[str]) -> None:
    """``searches.<name>``: the space is one the method accepts (checked by planning the merge
    at the space's corners with merge.plan), the objectives are scores a dev evaluation has,
    the sampler fits the number of objectives. Errors name ``searches.<name>.<key>``."""
    from .merge import merge_method, plan

    where = f"searches.{name}"
    try:
        method = merge_method(name, spec.get("method"))
    except WorkflowError as err:
        raise WorkflowError(f"{where}.method: {err}") from None
    if not method.weighted:
        raise WorkflowError(f"{where}.method: {method.name} takes no per-model weight to search")
    try:
        items = space_items(spec)
    except WorkflowError as err:
        raise WorkflowError(f"{where}.{err}") from None
    if not items:
        raise WorkflowError(f"{where}.space: nothing to search")
    keys = [k for k, _, _ in items]
    if "base_share" in keys and any(k.startswith("weights.") for k in keys):
        raise WorkflowError(f"{where}.space: give base_share or weights, not both")
    per_model, known = method.per_model, {p.name for p in method.parameters}
    for key, low, high in items:
        head, _, sub = key.partition(".")
        if head == "weights" and sub not in roles:
            raise WorkflowError(f"{where}.space.{key}: no model for this role (roles: {roles})")
        if head == "parameters" and sub not in known:
            raise WorkflowError(f"{where}.space.{key}: not a parameter of mergekit's {method.name} "
                                f"(its parameters: {sorted(known) or 'none'})")
        if not sub and head not in ("base_share", *per_model):
            raise WorkflowError(f"{where}.space.{key}: not a per-model parameter of mergekit's "
                                f"{method.name} (its per-model parameters: {sorted(per_model) or 'none'})")
        if head == "base_share" and not (0 <= low and high <= 1):
            raise WorkflowError(f"{where}.space.base_share: [{low}, {high}] is not inside [0, 1]")
        if head == "density" and not (0 < low and high <= 1):
            raise WorkflowError(f"{where}.space.density: [{low}, {high}] must lie in (0, 1]")
    for corner in ({k: lo for k, lo, _ in items}, {k: hi for k, _, hi in items}):
        try:
            plan(name, trial_spec(name, spec, corner, directions, task_vector_methods), roles)
        except WorkflowError as err:
            raise WorkflowError(f"{where}: {err}") from None
    check_objectives(name, spec, categories)


def check_objectives(name: str, spec: dict, categories: list[str]) -> None:
    objectives = spec.get("objectives") or []
    where = f"searches.{name}"
    if not objectives or len(set(objectives)) != len(objectives):
        raise WorkflowError(f"{where}.objectives: one or more distinct score columns, got {objectives!r}")
    for obj in objectives:
        if obj not in ("AVG", "MT") and obj not in categories:
            raise WorkflowError(
                f"{where}.objectives: {obj!r} is not a score of a dev evaluation; one of "
                f"{', '.join(['AVG', 'MT', *(c for c in categories if c != 'MT')])}")
    sampler = spec.get("sampler", "tpe")
    if sampler not in SAMPLERS:
        raise WorkflowError(f"{where}.sampler: one of {', '.join(SAMPLERS)}, got {sampler!r}")
    if len(objectives) == 1 and sampler not in SINGLE_OBJECTIVE_SAMPLERS:
        raise WorkflowError(f"{where}.sampler: {sampler} is for several objectives; with one, use "
                            f"{' or '.join(SINGLE_OBJECTIVE_SAMPLERS)}")
    if len(objectives) > 1 and sampler == "cmaes":
        raise WorkflowError(f"{where}.sampler: cmaes optimises one objective; {len(objectives)} given "
                            "(use tpe or nsga2)")


def point_name(search: str, number: int) -> str:
    """The model name of trial ``number`` of a search, once it is on the front."""
    return f"{search}-trial{number}"


def parse_point(model: str, searches) -> tuple[str, int] | None:
    """(search, trial number) of a front point's model name, or None."""
    match = re.fullmatch(r"(.+)-trial(\d+)", model)
    return (match[1], int(match[2])) if match and match[1] in searches else None


def study_dir(results: str, base: str, search: str) -> str:
    """Where a search's study journals live (one per search space and set of input models)."""
    return f"{results}/search/{base}/{search}"


def journal_path(directory: str | Path, spec: dict, models: dict[str, str]) -> str:
    """The study's journal, named after the space key and the input models' files (names,
    sizes, modification times): a changed space or a retrained model starts a new study (the
    old one's trials stay on disk), while a killed worker rerun on the same models resumes."""
    files = []
    for role in sorted(models):
        for f in sorted(Path(models[role]).iterdir()):
            if f.is_file() and (f.suffix in (".safetensors", ".bin") or f.name == "config.json"):
                st = f.stat()
                files.append([role, f.name, st.st_size, st.st_mtime_ns])
    digest = hashlib.sha256(json.dumps([space_key(spec), files]).encode()).hexdigest()[:12]
    return str(Path(directory) / f"study-{digest}.journal")


def space_key(spec: dict) -> str:
    """What makes two studies the same search: method, space, fixed keys, objectives and the
    dev evaluation's size (canonical JSON)."""
    keys = ("method", "space", "fixed", "objectives", "max_samples")
    return json.dumps({k: spec.get(k) for k in keys}, sort_keys=True)


# --- the study -----------------------------------------------------------------------------

def _sampler(spec: dict):
    import optuna

    seed, kind = int(spec.get("seed", 0)), spec.get("sampler", "tpe")
    if kind == "nsga2":
        population = max(2, min(50, int(spec["trials"]) // 4))
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=population)
    if kind == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(10, max(2, int(spec["trials"]) // 3)))


def open_study(journal: str | Path, name: str, spec: dict):
    """The search's study in ``journal`` (created on first use); a journal of another search
    space is refused naming the file."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    Path(journal).parent.mkdir(parents=True, exist_ok=True)
    storage = JournalStorage(JournalFileBackend(str(journal)))
    study = optuna.create_study(study_name=name, storage=storage, load_if_exists=True,
                                directions=["maximize"] * len(spec["objectives"]),
                                sampler=_sampler(spec))
    key = space_key(spec)
    recorded = study.user_attrs.get(STUDY_ATTR)
    if recorded is None:
        study.set_user_attr(STUDY_ATTR, key)
    elif recorded != key:
        raise WorkflowError(
            f"{journal}: holds a study of a different search space ({recorded}); this search is "
            f"{key}. Delete the file (its trials are then lost) or give the search another name")
    return study


def _counted(study) -> list[int]:
    """The numbers of the trials that use up the budget: finished (complete or failed) and
    running ones. A trial left unfinished by a killed worker is proposed afresh, and one
    withdrawn as surplus was never run: neither counts."""
    from optuna.trial import TrialState

    return [t.number for t in study.get_trials(deepcopy=False)
            if t.state in (TrialState.COMPLETE, TrialState.RUNNING)
            or (t.state == TrialState.FAIL and not t.user_attrs.get("interrupted")
                and not t.user_attrs.get("surplus"))]


def _surplus(study, trial, budget: int) -> bool:
    """Two workers may ask for the last trial at once: the trials beyond the budget (by
    number, which the storage hands out in order) are withdrawn, the first ones kept."""
    from optuna.trial import TrialState

    if trial.number in sorted(_counted(study))[:budget]:
        return False
    trial.set_user_attr("surplus", True)
    study.tell(trial, state=TrialState.FAIL)
    return True


def fail_interrupted(study, worker: int) -> list[int]:
    """Mark the trials this worker left running (it was killed) as failed and interrupted."""
    from optuna.trial import TrialState

    stale = [t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
             if t.user_attrs.get("worker") == worker]
    for t in stale:
        study._storage.set_trial_user_attr(t._trial_id, "interrupted", True)
        study.tell(t.number, state=TrialState.FAIL)
    return [t.number for t in stale]


def score(result: dict, name: str):
    """Score ``name`` (AVG, MT or a category) of an evaluation result; None if it has none."""
    return result.get(name) if name in ("AVG", "MT") else (result.get("categories") or {}).get(name)


def objective_values(result: dict, objectives: list[str]) -> list[float]:
    """The objectives' scores in an evaluation result; a missing score fails the trial."""
    values = []
    for obj in objectives:
        value = score(result, obj)
        if value is None or not math.isfinite(float(value)):
            raise WorkflowError(f"objective {obj}: no score ({result.get('category_reasons', {}).get(obj, 'none')})")
        values.append(float(value))
    return values


def dev_config(cfg: dict, spec: dict, dev_dir: str) -> dict:
    """The evaluation section for a trial: the dev split, the search's ``max_samples``, the
    categories only (the translation test sets have no dev split)."""
    return {**cfg, "dataset_dir": dev_dir, "max_samples": spec.get("max_samples", cfg["max_samples"]),
            "translation": {}}


def run_worker(job, trial_hook=None) -> dict:
    """One worker of a search (rule search_worker): trials until the budget is used up.

    ``trial_hook(trial)``, when given, runs after a trial is proposed (the tests use it to
    kill a worker mid-trial)."""
    from optuna.trial import TrialState

    from .evaluation import evaluate, load_model, new_suite, prepare
    from .grid import task_vector_methods
    from .merge import DEFAULT_SEED, mergekit_config, merge_into

    log = get_logger("search", job.log).info
    spec, budget = job.spec, int(job.spec["trials"])
    journal = journal_path(job.study_dir, spec, job.models)
    study = open_study(journal, job.search, spec)
    redo = fail_interrupted(study, job.worker)
    if redo:
        log(f"worker {job.worker}: trials {redo} were left unfinished; proposed afresh")
    cfg = dev_config(job.cfg, spec, job.dev_dir)
    suite = new_suite(cfg)
    tasks = prepare(job.dev_dir, cfg, suite, log)
    loaded = load_model(job.models["base"])
    tvm, items, ran = task_vector_methods(), space_items(spec), []
    while len(_counted(study)) < budget:
        trial = study.ask()
        trial.set_user_attr("worker", job.worker)
        if _surplus(study, trial, budget):
            break
        t0 = time.perf_counter()
        values = {key: trial.suggest_float(key, low, high) for key, low, high in items}
        if trial_hook:
            trial_hook(trial)
        try:
            point = trial_spec(job.search, spec, values, job.directions, tvm)
            merge_into(mergekit_config(job.search, point, job.models), loaded[0],
                       seed=point.get("seed", DEFAULT_SEED))
            result = evaluate(f"in memory: trial {trial.number} of search {job.search}", job.dev_dir,
                              cfg, suite=suite, tasks=tasks, loaded=loaded)
            scores = objective_values(result, spec["objectives"])
        except Exception as err:  # recorded; the study goes on
            trial.set_user_attr("error", f"{type(err).__name__}: {err}")
            trial.set_user_attr("seconds", time.perf_counter() - t0)
            study.tell(trial, state=TrialState.FAIL)
            log(f"trial {trial.number} failed: {type(err).__name__}: {err}")
            continue
        trial.set_user_attr("dev", {"AVG": result["AVG"], "MT": result["MT"], **result["categories"]})
        trial.set_user_attr("seconds", time.perf_counter() - t0)
        study.tell(trial, scores)
        ran.append(trial.number)
        log(f"trial {trial.number}: {values} -> {dict(zip(spec['objectives'], scores))} "
            f"({time.perf_counter() - t0:.1f} s)")
    done = {"search": job.search, "base": job.base, "worker": job.worker, "journal": journal, "trials": ran}
    write_json(job.out, done)
    return done


# --- the front -----------------------------------------------------------------------------

def trials_table(study, spec: dict):
    """Every trial: number, worker, state, sampled values, objectives and dev scores,
    seconds, error, and whether it is on the dev front."""
    import pandas as pd

    front = {t.number for t in front_trials(study)}
    rows = []
    for t in study.get_trials(deepcopy=False):
        row = {"trial": t.number, "worker": t.user_attrs.get("worker"), "state": t.state.name,
               **{k: t.params.get(k) for k, _, _ in space_items(spec)}}
        values = t.values or [None] * len(spec["objectives"])
        row.update({f"objective {o}": v for o, v in zip(spec["objectives"], values)})
        row.update({f"dev {k}": v for k, v in (t.user_attrs.get("dev") or {}).items()})
        row.update(seconds=t.user_attrs.get("seconds"), error=t.user_attrs.get("error", ""),
                   interrupted=bool(t.user_attrs.get("interrupted")), surplus=bool(t.user_attrs.get("surplus")),
                   front=t.number in front)
        rows.append(row)
    return pd.DataFrame(rows)


def front_trials(study) -> list:
    """The completed trials no other completed trial beats on every objective (Optuna's)."""
    from optuna.trial import TrialState

    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return []
    return sorted(study.best_trials, key=lambda t: t.number)


def pick(front: list, n: int | None) -> list:
    """At most ``n`` front points, spread along the front (sorted by the first objective)."""
    ordered = sorted(front, key=lambda t: (t.values[0], t.number))
    if n is None or len(ordered) <= n:
        return ordered
    if n == 1:
        return [ordered[len(ordered) // 2]]
    step = (len(ordered) - 1) / (n - 1)
    return [ordered[round(i * step)] for i in range(n)]


def hypervolume(points: list[list[float]], reference: list[float]) -> float:
    """The hypervolume (all objectives maximised) that ``points`` dominate above ``reference``;
    points not above it on every objective add nothing. Optuna's implementation."""
    import numpy as np
    from optuna._hypervolume import compute_hypervolume

    pts = np.array([p for p in points if all(v > r for v, r in zip(p, reference))], dtype=float)
    if not len(pts):
        return 0.0
    return float(compute_hypervolume(-pts, -np.array(reference, dtype=float)))


def study_journal(workers: list[str]) -> str:
    """The journal the workers (their output JSONs) ran on; they must agree."""
    journals = {read_json(w)["journal"] for w in workers}
    if len(journals) != 1:
        raise WorkflowError(f"{', '.join(workers)}: the workers ran on different studies {sorted(journals)}; "
                            "rerun them (the input models changed while they ran)")
    return journals.pop()


def front(job) -> dict:
    """Rule search_front: trials.csv and front.json (the front points to merge and evaluate)."""
    from .grid import task_vector_methods

    spec = job.spec
    journal = study_journal(job.workers)
    study = open_study(journal, job.search, spec)
    table = trials_table(study, spec)
    with atomic_open(job.trials_csv) as fh:
        table.to_csv(fh, index=False)
    tvm, chosen = task_vector_methods(), pick(front_trials(study), spec.get("front_points"))
    points = {}
    for t in chosen:
        values = {k: t.params[k] for k, _, _ in space_items(spec)}
        point = trial_spec(job.search, spec, values, job.directions, tvm)
        point["label"] = f"{spec.get('label', job.search)} trial {t.number}"
        points[point_name(job.search, t.number)] = {
            "trial": t.number, "spec": point, "dev": dict(zip(spec["objectives"], t.values)),
            "dev_scores": t.user_attrs.get("dev", {})}
    out = {"search": job.search, "base": job.base, "objectives": spec["objectives"], "journal": journal,
           "trials": len(table), "points": points}
    write_json(job.front_json, out)
    return out


def front_points(front_json: str | Path) -> dict:
    """point name -> its entry, from a search_front output."""
    return read_json(front_json)["points"]


def main_worker(job) -> None:
    from .merge import job_environment

    job_environment()
    import torch

    torch.set_num_threads(max(1, int(job.threads)))
    run_worker(job)


def main_front(job) -> None:
    front(job)


def main_point(job) -> None:
    """Rule merge_search_point: one front point (its spec from front.json) merged to disk."""
    from .merge import job_environment, merge

    job_environment()
    points = front_points(job.front_json)
    if job.name not in points:
        raise WorkflowError(f"{job.front_json}: {job.name} is not on this search's front "
                            f"(its points: {', '.join(points) or 'none'})")
    logger = get_logger("merge_search_point", job.log)
    merge(job.name, points[job.name]["spec"], job.models, job.out_dir, threads=job.threads, logger=logger)
