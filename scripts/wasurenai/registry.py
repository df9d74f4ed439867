"""What the DAG-time checks read of mergekit's and transformers' registries, without
importing either.

Building the DAG checks every merge, grid point and search against mergekit's method
registry (merge.plan), and the demo architecture against transformers' config classes
(families.check_architecture). Importing mergekit takes ~5 s (it pulls in torch,
transformers and peft) and transformers ~3 s, paid by every ``snakemake`` run, dry runs
included; the checks read only a few facts, so they read them from JSON, keyed by the
installed package's version (``importlib.metadata``, which imports nothing):

- ``registry_facts/<package>.json``, shipped, for the locked version (requirements.lock);
  ``python -m wasurenai.registry`` regenerates it from the installed package, and
  tests/test_registry.py fails when it differs from what that package gives;
- for another installed version, ``<cache>/wasurenai/registry_facts/<package>-<version>.json``
  (``<cache>``: ``$XDG_CACHE_HOME`` or ``~/.cache``), generated once by importing the package
  and written atomically; an unwritable cache only costs the import on the next run.

Each package's generator lives beside the check that reads its facts (``GENERATORS``).
Where the package is not installed at all, the shipped facts are used.
"""
from __future__ import annotations

import importlib
import json
import os
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from .common import write_json

SHIPPED_DIR = Path(__file__).with_name("registry_facts")
# package -> "module:function" returning the facts that module's checks read (importing the package)
GENERATORS = {
    "mergekit": "wasurenai.merge:mergekit_facts",
    "transformers": "wasurenai.families:transformers_facts",
}


def installed_version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def shipped_path(package: str) -> Path:
    return SHIPPED_DIR / f"{package}.json"


def cache_path(package: str, version: str) -> Path:
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return root / "wasurenai" / "registry_facts" / f"{package}-{version}.json"


def generate(package: str) -> dict:
    """The facts, from the installed package (imports it)."""
    module, _, function = GENERATORS[package].partition(":")
    facts = getattr(importlib.import_module(module), function)()
    return {"package": package, "version": installed_version(package), **facts}


def _read(path: Path, version: str | None) -> dict | None:
    try:
        facts = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return facts if version is None or facts.get("version") == version else None


@lru_cache(maxsize=None)
def facts(package: str) -> dict:
    """The registry facts of the installed ``package``: shipped, cached, or generated now."""
    version = installed_version(package)
    found = _read(shipped_path(package), version)
    if found is None and version is not None:
        cached = cache_path(package, version)
        found = _read(cached, version)
        if found is None:
            found = generate(package)
            try:
                write_json(cached, found)
            except OSError:
                pass  # read-only home: generated again next time
    if found is None:
        raise FileNotFoundError(f"{shipped_path(package)}: missing, and {package} is not installed")
    return found


def main() -> None:
    """Regenerate the shipped facts from the installed packages (after a lock change)."""
    for package in GENERATORS:
        write_json(shipped_path(package), generate(package))
        print(f"{shipped_path(package)}: {package} {installed_version(package)}")


if __name__ == "__main__":
    main()
