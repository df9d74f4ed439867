"""Merge a base model with its CPT models through mergekit's Python API.

A merge spec (one entry of config ``merges``) names a mergekit method, a weight per role
(``base``, ``ja-en``, ``en-ja``), and optionally ``density`` (or any other per-model
parameter the method declares) and ``seed``. A weight or per-model parameter is a number,
or (a search's layer-wise trials) mergekit's gradient / filter list (``setting``).
Everything is checked against mergekit's own method registry: the method must exist and
take a per-model ``weight``; other spec keys must be per-model parameters of that method.
The registry is read from its facts (``mergekit_facts``, cached by registry.facts keyed by
mergekit's version), so checking merges when the DAG is built does not import mergekit.

- Task-vector methods (mergekit's GeneralizedTaskArithmeticMerge: task_arithmetic, ties,
  dare_ties, dare_linear, breadcrumbs*, della*) need the ``base`` role: it becomes
  mergekit's ``base_model`` and the other roles' task vectors (model - base) are merged.
  A weight given for ``base`` (Table 4's DARE row: 0.33) is passed on as written, but
  mergekit gives the base model no task vector, so it has no effect; the YAML says so.
- Other methods (linear, nuslerp, multislerp) merge every weighted role directly. For
  ``linear`` with a weighted base, the base is also ``base_model``: linear ignores it in
  the arithmetic, but the output config.json and tokenizer then come from the base rather
  than from whichever model mergekit lists first (it collects models in a set).
- Method-level parameters (normalize, rescale, lambda, ...) keep mergekit's defaults and
  are written out explicitly, so the YAML shows e.g. that linear normalises the weights
  and dare_linear does not.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import yaml

from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Mapping

from .common import WorkflowError, atomic_dir, get_logger, offline
from .jobs import MergeJob

# mergekit buffers output tensors until a shard is this big, then copies it once more to
# write it: the default (5 GB) holds a whole 3.7B-model output in RAM twice.
OUT_SHARD_SIZE = 400_000_000

BASE_ROLE = "base"
# Spec keys that are not per-model parameters (sweep / point: where a grid point came from).
SPEC_KEYS = {"label", "method", "weights", "models", "parameters", "seed", "sweep", "point"}
DEFAULT_SEED = 0


def job_environment() -> None:
    """What the process of a merge job (rule merge, or an in-memory sweep) needs, set once
    at the job's start: never at import, so building the DAG leaves the environment be.

    torch's CPU allocator asks for 2 MB huge pages: mergekit's linear merge allocates
    several fresh tensors per weight, and page faults on 4 KB pages were most of its time
    (bench/merge: 32.4 s -> 13.9 s on 3 x 3.4 GB); torch reads it at its first allocation.
    Merges read local directories only (common.offline): a hub lookup fails fast."""
    os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")
    offline()


@dataclass(frozen=True)
class MethodFacts:
    """What mergekit's code requires of a method's models, which its registry entry does
    not say (base_model included where the method needs one)."""

    task_vectors: bool = False   # merges task vectors (model - base_model): needs the base
    needs_base: bool = False     # base_model is required
    base_and_one: bool = False   # base_model and exactly one other model
    min_others: int = 0          # at least this many models besides the base
    exactly: int | None = None   # exactly this many models listed

    @property
    def base_required(self) -> bool:
        return self.task_vectors or self.needs_base or self.base_and_one


_TASK_VECTORS = MethodFacts(task_vectors=True)
# The one table of mergekit 0.1.4 facts this project holds, by method name; a method not
# listed has no such constraint. tests/test_merge.py checks every name against mergekit's
# registry, and the task-vector rows against its GeneralizedTaskArithmeticMerge class.
METHOD_FACTS: Mapping[str, MethodFacts] = MappingProxyType({
    "task_arithmetic": _TASK_VECTORS, "ties": _TASK_VECTORS, "dare_ties": _TASK_VECTORS,
    "dare_linear": _TASK_VECTORS, "breadcrumbs": _TASK_VECTORS,
    "breadcrumbs_ties": _TASK_VECTORS, "della": _TASK_VECTORS, "della_linear": _TASK_VECTORS,
    "slerp": MethodFacts(base_and_one=True),
    "nearswap": MethodFacts(base_and_one=True),
    "arcee_fusion": MethodFacts(base_and_one=True),
    "model_stock": MethodFacts(needs_base=True, min_others=2),
    "sce": MethodFacts(needs_base=True),
    "karcher": MethodFacts(min_others=2),
    "passthrough": MethodFacts(exactly=1),
})


@dataclass(frozen=True)
class Param:
    """One parameter of a mergekit method, as its registry declares it."""

    name: str
    required: bool
    default: Any


@dataclass(frozen=True)
class Method:
    """A mergekit merge method as its registry entry describes it (registry facts)."""

    name: str
    tensor_parameters: tuple[Param, ...]  # per-model: weight, density, ...
    parameters: tuple[Param, ...]         # method parameters: normalize, lambda, ...

    @property
    def weighted(self) -> bool:
        return "weight" in {p.name for p in self.tensor_parameters}

    @property
    def per_model(self) -> set[str]:
        """The per-model parameters besides the weight."""
        return {p.name for p in self.tensor_parameters} - {"weight"}


def mergekit_facts() -> dict:
    """What ``registered_methods`` reads of mergekit's registry, and the tensor-name families
    of its architecture definitions that ``search.tensor_families`` reads (registry.GENERATORS)."""
    from mergekit.architecture.json_definitions import JSON_ARCHITECTURES
    from mergekit.merge_methods import REGISTERED_MERGE_METHODS

    def params(defs) -> list[dict]:
        return [{"name": p.name, "required": bool(p.required), "default": p.default_value} for p in defs]

    families = set()  # every run of whole dot-separated parts of a tensor name, no layer index
    for arch in JSON_ARCHITECTURES:
        for module in arch.modules.values():
            definition = module.architecture.definition
            for w in [*definition.pre_weights, *definition.layer_templates.weights, *definition.post_weights]:
                parts = w.name.split(".")
                families.update(".".join(parts[i:j]) for i in range(len(parts))
                                for j in range(i + 1, len(parts) + 1))
    return {"methods": {key: {"name": m.name(), "tensor_parameters": params(m.tensor_parameters()),
                              "parameters": params(m.parameters())}
                        for key, m in sorted(REGISTERED_MERGE_METHODS.items())},
            "tensor_families": sorted(f for f in families if "${" not in f)}


@lru_cache(maxsize=None)
def registered_methods() -> Mapping[str, Method]:
    """mergekit's method registry, by the name a config gives, from its facts."""
    from .registry import facts

    def params(defs: list[dict]) -> tuple[Param, ...]:
        return tuple(Param(d["name"], d["required"], d["default"]) for d in defs)

    return MappingProxyType({key: Method(m["name"], params(m["tensor_parameters"]), params(m["parameters"]))
                             for key, m in facts("mergekit")["methods"].items()})


def merge_method(name: str, method: str) -> Method:
    """mergekit's method ``method``; unknown names fail naming the merge."""
    methods = registered_methods()
    if method not in methods:
        raise WorkflowError(
            f"merges.{name}.method: unknown mergekit method {method!r}; "
            f"known: {', '.join(sorted(methods))}"
        )
    return methods[method]


def method_facts(method: Method) -> MethodFacts:
    return METHOD_FACTS.get(method.name, MethodFacts())


def is_task_vector_method(method: Method) -> bool:
    """True for mergekit's generalized task arithmetic family (needs a base model)."""
    return method_facts(method).task_vectors


def _model_dir(name: str, role: str, path) -> str:
    path = Path(path).resolve()
    if not (path / "config.json").is_file():
        raise WorkflowError(f"merges.{name}: model for role {role!r} is not an HF model dir: {path}")
    if "@" in str(path) or "+" in str(path):  # mergekit reads these as revision / LoRA
        raise WorkflowError(f"merges.{name}: model path for role {role!r} contains '@' or '+': {path}")
    return str(path)


def _dtype(model_dir: str) -> str:
    """The dtype the model was saved in (config.json), used as the output dtype."""
    config = json.loads((Path(model_dir) / "config.json").read_text())
    dtype = config.get("dtype") or config.get("torch_dtype") or "float32"
    return dtype if dtype in ("float32", "bfloat16", "float16") else "float32"


def _number(name: str, key: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise WorkflowError(f"merges.{name}.{key}: not a number: {value!r}")
    return float(value)


def setting(name: str, key: str, value):
    """A per-model weight or parameter as mergekit's ParameterSetting takes it (mergekit/config.py,
    numbers as floats): a number; a gradient, a list of numbers interpolated across the layers;
    or a list of ``{filter, value}`` (the first filter contained in a tensor's name wins) ending
    with the fallback ``{value}``, each value a number or a gradient. A search's layer-wise
    trials are written so (search.layered_setting)."""
    if isinstance(value, list) and value and all(isinstance(e, dict) for e in value):
        *conditional, fallback = value
        if set(fallback) != {"value"} or any(set(e) != {"filter", "value"} or not isinstance(e["filter"], str)
                                            for e in conditional):
            raise WorkflowError(f"merges.{name}.{key}: a list of {{filter, value}} entries ending with a "
                                f"fallback {{value}}, got {value!r}")
        return [*({"filter": e["filter"], "value": _gradient(name, key, e["value"])} for e in conditional),
                {"value": _gradient(name, key, fallback["value"])}]
    return _gradient(name, key, value)


def _gradient(name: str, key: str, value) -> float | list[float]:
    if isinstance(value, list) and value:
        return [_number(name, key, v) for v in value]
    return _number(name, key, value)


@dataclass(frozen=True)
class MergePlan:
    """A merge checked against mergekit's registry: what ``mergekit_config`` writes."""

    method: Method                # mergekit's method (registry facts)
    task_vectors: bool            # a task-vector method: base_model gets no task vector
    weighted: bool                # per-model weights (else the roles are listed)
    roles: tuple[str, ...]        # mergekit's models, in order
    base_model: bool              # the base role is mergekit's base_model
    model_params: Mapping[str, Any]   # per-model parameters (density, ...) of the spec
    method_params: Mapping[str, Any]  # the spec's method parameters

    @property
    def used(self) -> set[str]:
        """Every role whose model the merge reads."""
        return set(self.roles) | ({BASE_ROLE} if self.base_model else set())


def plan(name: str, spec: dict, roles) -> MergePlan:
    """Validate merge ``name`` against mergekit's registry without touching any model.

    Errors name the merge: unknown method; weights for a method without per-model weights
    (or none for one with); a spec key the method does not take; a role not in ``roles``;
    a missing base for methods that need one; a model count the method does not accept; a
    missing required method parameter.
    """
    method = merge_method(name, spec.get("method"))
    model_params, method_params = _parameters(name, spec, method)
    weighted = method.weighted
    listed = _listed_roles(name, spec, method.name, weighted)
    where = "weights" if weighted else "models"
    for role in listed:
        if role not in roles:
            raise WorkflowError(
                f"merges.{name}.{where}.{role}: no model for this role (roles: {sorted(roles)})"
            )
    facts = method_facts(method)
    _check_counts(name, f"merges.{name}.{where}", method.name, facts, listed, roles)
    base_model = facts.base_required or (method.name == "linear" and BASE_ROLE in listed)
    return MergePlan(method=method, task_vectors=facts.task_vectors, weighted=weighted,
                     roles=tuple(listed), base_model=base_model,
                     model_params=MappingProxyType(model_params),
                     method_params=MappingProxyType(method_params))


def _parameters(name: str, spec: dict, method: Method) -> tuple[dict, dict]:
    """The spec's per-model parameters and method parameters, each one the method takes."""
    mname, per_model = method.name, method.per_model
    model_params = {k: v for k, v in spec.items() if k not in SPEC_KEYS}
    for key in model_params:
        if key not in per_model:
            raise WorkflowError(
                f"merges.{name}.{key}: not a per-model parameter of mergekit's {mname} "
                f"(its per-model parameters: {sorted(per_model) or 'none'}; "
                f"method parameters go under merges.{name}.parameters)"
            )
        setting(name, key, model_params[key])
    known = {p.name: p for p in method.parameters}
    method_params = dict(spec.get("parameters") or {})
    for key in method_params:
        if key not in known:
            raise WorkflowError(
                f"merges.{name}.parameters.{key}: not a parameter of mergekit's {mname} "
                f"(its parameters: {sorted(known) or 'none'})"
            )
    for key, p in known.items():
        if p.required and key not in method_params:
            raise WorkflowError(f"merges.{name}.parameters.{key}: required by mergekit's {mname}")
    return model_params, method_params


def _listed_roles(name: str, spec: dict, mname: str, weighted: bool) -> list[str]:
    """The roles mergekit lists as models: the weighted ones, or ``models``."""
    if weighted:
        if spec.get("models"):
            raise WorkflowError(f"merges.{name}.models: {mname} takes per-model weights; use weights")
        weights = spec.get("weights") or {}
        if not weights:
            raise WorkflowError(f"merges.{name}.weights: {mname} needs a weight per model")
        for role, w in weights.items():
            setting(name, f"weights.{role}", w)
        return list(weights)
    if spec.get("weights"):
        raise WorkflowError(
            f"merges.{name}.weights: mergekit's {mname} takes no per-model weight; list the "
            f"roles it merges under merges.{name}.models"
        )
    listed = list(spec.get("models") or [])
    if not listed:
        raise WorkflowError(f"merges.{name}.models: list the roles {mname} merges")
    return listed


def _check_counts(name: str, key: str, mname: str, facts: MethodFacts, listed: list[str],
                  roles) -> None:
    """The model counts mergekit's ``mname`` accepts (METHOD_FACTS); ``key`` names the list."""
    if facts.base_required and BASE_ROLE not in roles:
        raise WorkflowError(f"merges.{name}: method {mname} needs the {BASE_ROLE!r} model")
    others = [r for r in listed if r != BASE_ROLE]
    if facts.task_vectors and not others:
        raise WorkflowError(f"{key}: no model to merge besides the base")
    if facts.base_and_one and (BASE_ROLE not in listed or len(others) != 1):
        raise WorkflowError(
            f"{key}: {mname} merges the base with exactly one other model (got {listed})"
        )
    if len(others) < facts.min_others:
        raise WorkflowError(
            f"{key}: {mname} needs at least {facts.min_others} models besides the base "
            f"(got {others})"
        )
    if facts.exactly is not None and len(listed) != facts.exactly:
        raise WorkflowError(f"{key}: {mname} takes exactly {facts.exactly} model(s)")


def roles_used(name: str, spec: dict, roles) -> list[str]:
    """The roles whose models merge ``name`` reads, in ``roles`` order."""
    used = plan(name, spec, roles).used
    return [r for r in roles if r in used]


def check_compatible(name: str, paths: dict[str, str]) -> None:
    """Fail before any tensor is read if the models' architectures or shapes differ."""
    keys = ("architectures", "model_type", "vocab_size", "hidden_size", "num_hidden_layers",
            "intermediate_size", "num_attention_heads", "num_key_value_heads")
    configs = {role: json.loads((Path(p) / "config.json").read_text()) for role, p in paths.items()}
    first_role = next(iter(configs))
    for role, cfg in configs.items():
        for key in keys:
            if cfg.get(key) != configs[first_role].get(key):
                raise WorkflowError(
                    f"merges.{name}: models differ in {key}: {paths[first_role]} has "
                    f"{configs[first_role].get(key)!r}, {paths[role]} has {cfg.get(key)!r}"
                )


def mergekit_config(name: str, spec: dict, models: dict[str, str | Path]) -> dict:
    """The mergekit configuration (a YAML-able dict) for merge ``name``.

    ``models`` maps role -> HF model dir. Validation is ``plan``'s; then the models'
    config.json files are compared (architecture, vocabulary, shapes), naming both models.
    """
    p = plan(name, spec, list(models))
    method = p.method
    paths = {role: _model_dir(name, role, models[role]) for role in models if role in p.used}
    check_compatible(name, paths)
    entries = []
    for role in p.roles:
        params = {"weight": setting(name, f"weights.{role}", spec["weights"][role])} if p.weighted else {}
        if not (p.task_vectors and role == BASE_ROLE):
            params.update({k: setting(name, k, v) for k, v in p.model_params.items()})
        entry = {"model": paths[role]}
        if params:
            entry["parameters"] = params
        entries.append(entry)
    config = {"merge_method": method.name}
    if p.base_model:
        config["base_model"] = paths[BASE_ROLE]
    config["models"] = entries
    params = {q.name: q.default for q in method.parameters if not q.required}
    params.update(p.method_params)
    if params:
        config["parameters"] = params
    config["dtype"] = "float32"  # the arithmetic; the output keeps the base's dtype
    config["out_dtype"] = _dtype(paths.get(BASE_ROLE) or entries[0]["model"])
    return config


def config_yaml(name: str, spec: dict, config: dict, models: dict[str, str | Path]) -> str:
    """The YAML written beside the merged model: mergekit's config plus what it means."""
    method = config["merge_method"]
    lines = [
        f"# mergekit configuration of merge {name!r} ({spec.get('label', name)}), run with",
        f"# mergekit.merge.run_merge on the CPU, MergeOptions.random_seed={spec.get('seed', DEFAULT_SEED)}.",
        "# roles: " + ", ".join(f"{role} = {Path(path).resolve()}" for role, path in models.items()),
    ]
    if "base_model" in config and method != "linear":
        lines.append(f"# {method} is a task-vector method: base_model is the {BASE_ROLE!r} role and")
        lines.append("# the other models are merged as task vectors (model - base_model).")
        if BASE_ROLE in (spec.get("weights") or {}):
            lines.append(f"# The weight listed for base_model ({spec['weights'][BASE_ROLE]}) has no effect:"
                         " mergekit gives base_model no task vector.")
    elif "base_model" in config:
        lines.append("# linear ignores base_model in the arithmetic; it is the source of config.json"
                     " and the tokenizer.")
    lines.append("# 'parameters': this merge's method parameters, mergekit's defaults written out.")
    return "\n".join(lines) + "\n" + yaml.safe_dump(config, sort_keys=False, allow_unicode=True)


def run_merge(config: dict, out_dir: str | Path, seed: int = DEFAULT_SEED, threads: int = 1,
              config_text: str | None = None) -> None:
    """Run mergekit on the CPU, offline; the model dir (with the YAML) appears atomically.

    mergekit seeds python, numpy and torch from ``seed`` before merging, so DARE's random
    drops are the same on every run with the same seed.
    """
    import torch
    from mergekit.config import MergeConfiguration
    from mergekit.merge import run_merge as mergekit_run_merge

    torch.set_num_threads(max(1, int(threads)))
    merge_config = MergeConfiguration.model_validate(config)
    options = _options(seed)
    with atomic_dir(out_dir) as tmp:
        mergekit_run_merge(merge_config, str(tmp), options)
        if not (tmp / "tokenizer_config.json").is_file():  # mergekit only logs a failed copy
            raise WorkflowError(f"{out_dir}: mergekit did not copy a tokenizer from the inputs")
        (tmp / "mergekit_config.yml").write_text(
            config_text or yaml.safe_dump(config, sort_keys=False), encoding="utf-8")


def _options(seed: int):
    from mergekit.merge import MergeOptions

    return MergeOptions(
        device="cpu", random_seed=seed, copy_tokenizer=True, lazy_unpickle=False,
        allow_crimes=False, trust_remote_code=False, write_model_card=False,
        safe_serialization=True, quiet=True, out_shard_size=OUT_SHARD_SIZE,
    )


def merge_into(config: dict, model, seed: int = DEFAULT_SEED) -> None:
    """Merge in memory, straight into ``model``'s parameters (the sweep mode).

    The same mergekit plan as ``run_merge`` (``MergePlanner.plan_in_memory``, as
    mergekit-evolve does), seeded the same way, so the tensors equal those a merge to disk
    writes; nothing is written. Every parameter of ``model`` must be produced.
    """
    import torch
    import transformers
    from mergekit.architecture import get_architecture_info
    from mergekit.config import MergeConfiguration
    from mergekit.graph import Executor
    from mergekit.io.tasks import LoaderCache
    from mergekit.merge import _model_out_config
    from mergekit.plan import MergePlanner

    options = _options(seed)
    merge_config = MergeConfiguration.model_validate(config)
    transformers.trainer_utils.set_seed(seed)
    arch_info = get_architecture_info(merge_config, options)
    LoaderCache().setup(options=options)
    cfg_out = _model_out_config(merge_config, arch_info, trust_remote_code=False)
    tasks = MergePlanner(merge_config, arch_info, options, cfg_out).plan_in_memory()
    params = dict(model.named_parameters())
    seen = set()
    with torch.no_grad():
        for task, value in Executor(tasks, math_device="cpu", storage_device="cpu").run(quiet=True):
            name = task.weight_info.name
            if name in params:
                params[name].data.copy_(value.to(params[name].dtype))
                seen.add(name)
    tied = {"lm_head.weight"} if getattr(model.config, "tie_word_embeddings", False) else set()
    missing = set(params) - seen - tied
    if missing:
        raise WorkflowError(f"in-memory merge: mergekit produced no tensor for {sorted(missing)[:5]}")


def merge(name: str, spec: dict, models: dict[str, str | Path], out_dir: str | Path,
          threads: int = 1, logger=None) -> dict:
    """Validate ``spec``, merge ``models`` (role -> dir) into ``out_dir``; return the config."""
    config = mergekit_config(name, spec, models)
    text = config_yaml(name, spec, config, models)
    if logger:
        logger.info("merge %s:\n%s", name, text)
    run_merge(config, out_dir, seed=spec.get("seed", DEFAULT_SEED), threads=threads,
              config_text=text)
    return config


def main(job: MergeJob) -> None:
    """Rule merge: the job's models (role -> dir) merged into its output directory."""
    job_environment()
    logger = get_logger("merge", job.log)
    merge(job.name, job.spec, job.models, job.out_dir, threads=job.threads, logger=logger)
