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
  and evaluated on the test split like any merge;
- with ``layerwise`` (filters and/or depth points, as mergekit-evolve's genome), a key of the
  space is sampled once per (tensor family, depth point) and the trial's spec holds it as
  mergekit's filter / gradient lists (``trial_spec``, ``layered_setting``).

The study remembers its search space (``space_key``): a journal written for another space
is refused, naming the file, rather than mixed in.
"""
from __future__ import annotations

import functools
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
SEARCH_KEYS = ("method", "label", "space", "layerwise", "fixed", "objectives", "trials", "sampler",
               "seed", "workers", "max_samples", "front_points")
STUDY_ATTR = "wasurenai_space"
# The family of the tensors that match none of layerwise.filters (mergekit's fallback {value}).
OTHER_FAMILY = "other"


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


def layerwise_keys(spec: dict) -> list[str]:
    """The space keys sampled layer-wise: ``layerwise.keys``, by default every key of the space
    but the method parameters (one value per merge); none without ``layerwise``."""
    layerwise = spec.get("layerwise")
    if not layerwise:
        return []
    keys = [k for k, _, _ in space_items(spec)]
    return list(layerwise.get("keys") or [k for k in keys if not k.startswith("parameters.")])


def layer_cells(layerwise: dict) -> list[tuple[str, int | None]]:
    """(family, depth point) of each value a layer-wise key samples, families first:
    each of ``filters`` then ``other`` (the tensors matching none); depth points 0..n-1, or
    None without ``depth_points`` (one value per family)."""
    families = [*(layerwise.get("filters") or []), OTHER_FAMILY]
    depths = range(layerwise["depth_points"]) if layerwise.get("depth_points") else [None]
    return [(f, d) for f in families for d in depths]


def cell_param(key: str, layerwise: dict, family: str, depth: int | None) -> str:
    """The Optuna parameter (trials.csv column) of a layer-wise key at one cell:
    ``density@self_attn/0`` (``@family`` with filters, ``/depth point`` with depth points)."""
    return (key + (f"@{family}" if layerwise.get("filters") else "")
            + (f"/{depth}" if depth is not None else ""))


def search_params(spec: dict) -> list[tuple[str, float, float]]:
    """[(Optuna parameter, low, high)]: each space key, or for a layer-wise key one parameter
    per (family, depth point) over the key's range."""
    layered, layerwise = set(layerwise_keys(spec)), spec.get("layerwise") or {}
    params = []
    for key, low, high in space_items(spec):
        if key in layered:
            params += [(cell_param(key, layerwise, *cell), low, high) for cell in layer_cells(layerwise)]
        else:
            params.append((key, low, high))
    return params


def _point_spec(name: str, spec: dict, values: dict[str, float], directions: list[str],
                task_vector_methods: set[str]) -> dict:
    """The flat merge spec of ``values`` (space key -> number), expanded as a sweep's grid
    point is (grid.expand_sweep: base_share's one definition)."""
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


def trial_spec(name: str, spec: dict, values: dict[str, float], directions: list[str],
               task_vector_methods: set[str]) -> dict:
    """The merge spec of one trial: the search's method and ``fixed`` keys, with ``values``
    (Optuna parameter -> number, ``search_params``) in place, expanded as a sweep's grid point
    is (grid.expand_sweep).

    Layer-wise, each (family, depth point) cell is expanded on its own, so base_share goes
    through the one definition per cell; then each per-model weight and parameter of the cell
    specs becomes mergekit's ParameterSetting (``layered_setting``): one number where every cell
    agrees, else a list of ``{filter, value}`` ending with the fallback ``{value}``, where a
    value with depth points is a gradient list mergekit interpolates across the layers."""
    layered = layerwise_keys(spec)
    if not layered:
        return _point_spec(name, spec, values, directions, task_vector_methods)
    from .merge import SPEC_KEYS

    layerwise = spec["layerwise"]
    flat = {k: values[k] for k, _, _ in space_items(spec) if k not in layered}
    cells = layer_cells(layerwise)
    specs = [_point_spec(name, spec, {**flat, **{k: values[cell_param(k, layerwise, *c)] for k in layered}},
                         directions, task_vector_methods) for c in cells]
    out = dict(specs[0])
    if "weights" in out:
        out["weights"] = {role: layered_setting([s["weights"][role] for s in specs], layerwise)
                          for role in out["weights"]}
    for key in out:
        if key not in SPEC_KEYS:
            out[key] = layered_setting([s[key] for s in specs], layerwise)
    return out


def layered_setting(values: list[float], layerwise: dict):
    """mergekit's ParameterSetting for one number per ``layer_cells`` cell (mergekit/config.py
    evaluate_setting: the first ``filter`` that is a substring of the tensor's name wins, a
    number list is interpolated over t = layer / (layers - 1); as mergekit-evolve's smooth
    genome writes it)."""
    if all(v == values[0] for v in values):
        return values[0]
    filters = layerwise.get("filters") or []
    depth = layerwise.get("depth_points") or 1
    rows = [values[i * depth:(i + 1) * depth] for i in range(len(filters) + 1)]
    per_family = [list(row) if layerwise.get("depth_points") else row[0] for row in rows]
    if not filters:
        return per_family[0]
    return [*({"filter": f, "value": v} for f, v in zip(filters, per_family)), {"value": per_family[-1]}]


def check_search(name: str, spec: dict, directions: list[str], roles: list[str],
                 categories: list[str], task_vector_methods: set[str], dev_directions: list[str] = ()) -> None:
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
    check_layerwise(where, spec, keys)
    params = search_params(spec)
    mixed = {k: (lo, hi)[i % 2] for i, (k, lo, hi) in enumerate(params)}  # layer-wise: cells differ
    for corner in ({k: lo for k, lo, _ in params}, {k: hi for k, _, hi in params}, mixed):
        try:
            plan(name, trial_spec(name, spec, corner, directions, task_vector_methods), roles)
        except WorkflowError as err:
            raise WorkflowError(f"{where}: {err}") from None
    check_objectives(name, spec, categories, dev_directions)


def check_layerwise(where: str, spec: dict, keys: list[str]) -> None:
    """``searches.<name>.layerwise``: filters that name tensor families of mergekit's
    architectures, none shadowed by an earlier one; depth_points of at least 2; keys of the
    space that take one value per tensor (not method parameters)."""
    layerwise = spec.get("layerwise")
    if layerwise is None:
        return
    where = f"{where}.layerwise"
    if not isinstance(layerwise, dict) or set(layerwise) - {"filters", "depth_points", "keys"}:
        raise WorkflowError(f"{where}: a mapping of filters, depth_points and keys, got {layerwise!r}")
    filters, depth = layerwise.get("filters") or [], layerwise.get("depth_points")
    if not filters and depth is None:
        raise WorkflowError(f"{where}: give filters, depth_points or both (else every tensor has one value)")
    if not isinstance(filters, list) or not all(isinstance(f, str) for f in filters):
        raise WorkflowError(f"{where}.filters: a list of tensor-name substrings, got {filters!r}")
    for i, f in enumerate(filters):
        if f not in tensor_families():
            raise WorkflowError(
                f"{where}.filters: {f!r} is no part of a tensor name in mergekit's architectures (a "
                "filter is a substring of the names, e.g. self_attn, mlp, input_layernorm for Llama)")
        for earlier in filters[:i]:
            if earlier in f:
                raise WorkflowError(f"{where}.filters: {f!r} is never used: the tensors it matches also match the "
                                    f"earlier {earlier!r} (mergekit takes the first filter a name contains)")
    if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 2):
        raise WorkflowError(f"{where}.depth_points: an integer of at least 2 (values at that many depths, "
                            f"interpolated across the layers), got {depth!r}; leave it out for one per family")
    chosen = layerwise.get("keys")
    if chosen is not None and (not isinstance(chosen, list) or not chosen):
        raise WorkflowError(f"{where}.keys: a non-empty list of keys of the space, got {chosen!r}")
    for key in chosen or []:
        if key not in keys:
            raise WorkflowError(f"{where}.keys: {key!r} is not a key of {where.rsplit('.', 1)[0]}.space "
                                f"({', '.join(keys)})")
        if key.startswith("parameters."):
            raise WorkflowError(
                f"{where}.keys: {key} is a method parameter, one value per merge; layer-wise values are for "
                "the per-model weights (base_share, weights.<role>) and parameters (density, ...), as in "
                "mergekit-evolve's genome")
    if not layerwise_keys(spec):
        raise WorkflowError(f"{where}: the space has no key to sample layer-wise (method parameters are not)")


@functools.lru_cache(maxsize=1)
def tensor_families() -> frozenset[str]:
    """Every run of whole dot-separated parts of a tensor name in mergekit's architecture
    definitions (``self_attn``, ``mlp``, ``self_attn.q_proj``, ``input_layernorm``, ...),
    with the layer index left out: what a layer-wise filter may be (mergekit's registry
    facts: merge.mergekit_facts, so the DAG build does not import mergekit)."""
    from .registry import facts

    return frozenset(facts("mergekit")["tensor_families"])


def check_filters_match(search: str, spec: dict, tensor_names, model: str) -> None:
    """Each layer-wise filter is part of a tensor name of the model being merged (run time:
    the DAG build knows mergekit's architectures, not the model's)."""
    names = list(tensor_names)
    for f in (spec.get("layerwise") or {}).get("filters") or []:
        if not any(f in n for n in names):
            raise WorkflowError(f"searches.{search}.layerwise.filters: {f!r} matches no tensor of {model} "
                                f"(its names look like {', '.join(names[:4])}, ...)")


def translation_objective(name: str) -> tuple[str, str] | None:
    """(direction, the translation result's key) of an objective "<direction> <BERTScore|
    BLEU|COMET>", or None for AVG, MT and the categories."""
    from .tables import METRIC_COLUMNS

    direction, _, column = name.partition(" ")
    key = dict(METRIC_COLUMNS).get(column)
    return (direction, key) if direction and key else None


def check_objectives(name: str, spec: dict, categories: list[str], dev_directions: list[str] = ()) -> None:
    """``dev_directions``: the directions whose translation test set has a dev split (an
    llm-jp-eval dataset, not a file): their "<direction> BLEU" etc. may be objectives."""
    from .tables import METRICS

    objectives = spec.get("objectives") or []
    where = f"searches.{name}"
    if not objectives or len(set(objectives)) != len(objectives):
        raise WorkflowError(f"{where}.objectives: one or more distinct score columns, got {objectives!r}")
    for obj in objectives:
        tr = translation_objective(obj)
        if obj not in ("AVG", "MT") and obj not in categories and not (tr and tr[0] in dev_directions):
            raise WorkflowError(
                f"{where}.objectives: {obj!r} is not a score of a dev evaluation; one of "
                f"{', '.join(['AVG', 'MT', *(c for c in categories if c != 'MT')])}, or a translation "
                f"column of a direction whose test set has a dev split ("
                f"{', '.join(f'{d} {m}' for d in dev_directions for m in METRICS) or 'none here'})")
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
    """What makes two studies the same search: method, space, layer-wise settings, fixed keys,
    objectives and the dev evaluation's size (canonical JSON)."""
    keys = ("method", "space", "fixed", "objectives", "max_samples")
    key = {k: spec.get(k) for k in keys}
    if spec.get("layerwise"):  # only when given: the key of a flat search stays as it was
        key["layerwise"] = spec["layerwise"]
    return json.dumps(key, sort_keys=True)


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
    """Score ``name`` (AVG, MT, a category or "<direction> <BERTScore|BLEU|COMET>") of an
    evaluation result; None if it has none."""
    if name in ("AVG", "MT"):
        return result.get(name)
    tr = translation_objective(name)
    if tr:
        return ((result.get("translation") or {}).get(tr[0]) or {}).get(tr[1])
    return (result.get("categories") or {}).get(name)


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
    """The evaluation section for a trial: the dev split with the search's ``max_samples``."""
    from .evaluation import dev_split_config

    translation = any(translation_objective(o) for o in spec.get("objectives") or [])
    return dev_split_config(cfg, dev_dir, spec.get("max_samples"), translation)


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
    check_filters_match(job.search, spec, (n for n, _ in loaded[0].named_parameters()), job.models["base"])
    tvm, items, ran = task_vector_methods(), search_params(spec), []
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
        trial.set_user_attr("dev", {"AVG": result["AVG"], "MT": result["MT"], **result["categories"],
                                    **{o: score(result, o) for o in spec["objectives"] if translation_objective(o)}})
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
               **{k: t.params.get(k) for k, _, _ in search_params(spec)}}
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
        values = {k: t.params[k] for k, _, _ in search_params(spec)}
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
