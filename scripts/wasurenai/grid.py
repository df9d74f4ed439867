"""Merge sweeps: generators in the config that expand into named grid points.

A sweep is a merge spec in which some keys hold lists: ``base_share``, any per-model
parameter (``density``, ``epsilon``, ...), ``seed``, and method parameters under
``parameters``. Their cartesian product, in the order the keys are written and the values
are listed, gives the grid points. Each point is an ordinary named merge:

- name: ``{sweep}-{axis}{value}-...``, e.g. ``ties-share0.3-density0.5`` (readable,
  stable, and checked against ``names.NAME_PATTERN``: safe in paths and wildcards);
- spec: the merge spec with that point's values, plus ``sweep`` (the sweep's name) and
  ``point`` (its axis values) for the report.

``base_share`` s turns into weights over the roles (base and n directions) as the schema's
``sweeps.*.base_share`` description defines it (workflow/schemas/config.schema.yaml, the
one definition): ``share_weights`` and ``expand_sweep`` implement it.
"""
from __future__ import annotations

import itertools

from .common import WorkflowError
from .names import check_name

AXIS_NAMES = {"base_share": "share"}
POINT_KEYS = ("sweep", "point")


def fmt_value(value) -> str:
    """A value as it appears in a point name: 0.3 not 0.30000000000000004, 1 not 1.0."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        text = f"{value:.6g}"
        return text if "e" not in text else f"{value:.10f}".rstrip("0").rstrip(".")
    return str(value)


def _axes(name: str, sweep: dict) -> list[tuple[tuple[str, ...], list]]:
    """[(key path, values)] for every list-valued key, in the order they are written."""
    axes = []
    for key, value in sweep.items():
        if key in ("weights", "models", "label", "method", "in_memory"):
            continue
        if key == "parameters":
            for pkey, pvalue in (value or {}).items():
                if isinstance(pvalue, list):
                    axes.append((("parameters", pkey), pvalue))
        elif isinstance(value, list):
            axes.append(((key,), value))
    for path, values in axes:
        if not values:
            raise WorkflowError(f"sweeps.{name}.{'.'.join(path)}: an empty list")
        if len(set(map(fmt_value, values))) != len(values):
            raise WorkflowError(f"sweeps.{name}.{'.'.join(path)}: repeated values {values}")
    return axes


def share_weights(name: str, share, method: str, directions: list[str]) -> dict[str, float]:
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 1:
        raise WorkflowError(f"sweeps.{name}.base_share: {share!r} is not a number in [0, 1]")
    rest = (1.0 - float(share)) / len(directions)
    weights = {d: rest for d in directions}
    if method == "linear":
        weights = {"base": float(share), **weights}
    return weights


def expand_sweep(name: str, sweep: dict, directions: list[str],
                 task_vector_methods: set[str]) -> dict[str, dict]:
    """The named grid points of one sweep."""
    method = sweep.get("method")
    if "base_share" in sweep:
        if "weights" in sweep or "models" in sweep:
            raise WorkflowError(f"sweeps.{name}: give base_share or weights/models, not both")
        if method != "linear" and method not in task_vector_methods:
            raise WorkflowError(
                f"sweeps.{name}.base_share: defined for linear and task-vector methods "
                f"({', '.join(sorted(task_vector_methods))}), not {method!r}"
            )
    axes = _axes(name, sweep)
    points = {}
    for values in itertools.product(*(v for _, v in axes)) if axes else [()]:
        spec = {k: v for k, v in sweep.items() if k not in ("label", "parameters", "in_memory")}
        params = dict(sweep.get("parameters") or {})
        point = {}
        for (path, _), value in zip(axes, values):
            if path[0] == "parameters":
                params[path[1]] = value
            else:
                spec[path[0]] = value
            point[".".join(path)] = value
        if "base_share" in spec:
            share = spec.pop("base_share")
            spec["weights"] = share_weights(name, share, method, directions)
            if method in task_vector_methods:
                params.setdefault("normalize", False)
        if params:
            spec["parameters"] = params
        suffix = "-".join(
            f"{AXIS_NAMES.get(path[-1], path[-1])}{fmt_value(v)}" for (path, _), v in zip(axes, values)
        )
        point_name = f"{name}-{suffix}" if suffix else name
        check_name(f"sweeps.{name} (point {point_name})", point_name)
        label = sweep.get("label", name)
        details = " ".join(f"{AXIS_NAMES.get(p[-1], p[-1])}={fmt_value(v)}" for (p, _), v in zip(axes, values))
        spec["label"] = f"{label} {details}".strip()
        spec["sweep"], spec["point"] = name, point
        points[point_name] = spec
    return points


def expand(merges: dict, sweeps: dict | None, directions: list[str],
           task_vector_methods: set[str]) -> dict[str, dict]:
    """The named merges followed by every sweep's grid points; a name clash fails naming both."""
    out = dict(merges)
    for name, sweep in (sweeps or {}).items():
        for point, spec in expand_sweep(name, sweep, directions, task_vector_methods).items():
            if point in out:
                origin = f"sweeps.{out[point]['sweep']}" if "sweep" in out[point] else f"merges.{point}"
                raise WorkflowError(f"sweeps.{name}: grid point {point!r} clashes with {origin}")
            out[point] = spec
    return out


def task_vector_methods() -> set[str]:
    """mergekit's task-vector methods (those that merge model - base_model)."""
    from .merge import is_task_vector_method, registered_methods  # registry facts: no mergekit import

    return {n for n, method in registered_methods().items() if is_task_vector_method(method)}
