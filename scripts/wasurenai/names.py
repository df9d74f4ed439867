"""The names a config gives (bases, tokenizers, merges, sweeps and their grid points): one
pattern, checked when the DAG is built, so a name that would be unsafe in a path or a
Snakemake wildcard fails naming its key instead of failing later as a missing input.

A name is a letter or digit followed by letters, digits, ``.``, ``_`` or ``-``: no spaces,
slashes or shell characters, and never ``.`` / ``..`` or a hidden file.
"""
from __future__ import annotations

import re

from .common import WorkflowError

NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]*"
NAME_RULE = "a letter or digit, then letters, digits, '.', '_' or '-'"


def check_name(key: str, name) -> None:
    """Fail naming ``key`` unless ``name`` matches NAME_PATTERN."""
    if not isinstance(name, str) or not re.fullmatch(NAME_PATTERN, name):
        raise WorkflowError(f"{key}: {name!r} is not a valid name ({NAME_RULE})")


def check_config_names(config: dict) -> None:
    """Base, tokenizer, merge, sweep and search names of a config; errors name the key."""
    for base, spec in config["bases"].items():
        check_name(f"bases.{base}", base)
        if "tokenizer" in spec:
            check_name(f"bases.{base}.tokenizer", spec["tokenizer"])
    for section in ("merges", "sweeps", "searches"):
        for name in config.get(section) or {}:
            check_name(f"{section}.{name}", name)


def origin(name: str, spec: dict) -> str:
    """Where a merge comes from in the config: merges.<name> or its sweep."""
    return f"sweeps.{spec['sweep']} (point {name})" if "sweep" in spec else f"merges.{name}"


def check_model_names(merges: dict[str, dict], roles: list[str]) -> None:
    """Every named merge and grid point (``grid.expand``'s output): a valid name, and none
    equal to a model role (the base or a direction), which it would overwrite."""
    for name, spec in merges.items():
        check_name(origin(name, spec), name)
        if name in roles:
            raise WorkflowError(
                f"{origin(name, spec)}: the name {name!r} is also the model role {name!r} "
                f"(the models are {', '.join(roles)} and the merges); rename the merge"
            )
