"""wasurenai.registry: the DAG checks read mergekit's and transformers' registries from
facts keyed by the installed version, so building the DAG imports neither."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from helpers import REPO
from wasurenai import registry


@pytest.fixture
def fresh_facts():
    registry.facts.cache_clear()
    yield
    registry.facts.cache_clear()


@pytest.mark.parametrize("package", sorted(registry.GENERATORS))
def test_the_shipped_facts_are_what_the_installed_package_gives(package):
    """The shipped file cannot drift from the locked package: after a lock change, run
    `make registry-facts` (python -m wasurenai.registry)."""
    shipped = json.loads(registry.shipped_path(package).read_text(encoding="utf-8"))
    assert registry.generate(package) == shipped, f"{registry.shipped_path(package)}: run make registry-facts"


def test_another_version_is_generated_once_into_the_user_cache(fresh_facts, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(registry, "installed_version", lambda package: "0.0.0+other")
    cached = tmp_path / "wasurenai" / "registry_facts" / "mergekit-0.0.0+other.json"
    facts = registry.facts("mergekit")
    assert facts["version"] == "0.0.0+other" and json.loads(cached.read_text()) == facts
    shipped = json.loads(registry.shipped_path("mergekit").read_text())
    assert facts["methods"] == shipped["methods"]  # generated from mergekit itself
    assert sorted(tmp_path.rglob("*")) == [cached.parents[1], cached.parent, cached]  # no temporary left

    def no_import(package):
        raise AssertionError(f"{package} generated again")

    registry.facts.cache_clear()
    monkeypatch.setattr(registry, "generate", no_import)
    assert registry.facts("mergekit") == facts  # read from the cache


def test_building_the_dag_imports_neither_mergekit_nor_torch(tmp_path):
    """The demo config resolved as common.smk resolves it (its merges, sweeps, search — made
    layer-wise, whose filters are checked too — and demo architecture all checked), in a
    fresh process."""
    code = (
        "import sys, yaml\n"
        "from snakemake.utils import validate\n"
        "from wasurenai.config import resolve\n"
        f"cfg = yaml.safe_load(open({str(REPO / 'config.yaml')!r}))\n"
        "cfg['searches']['frontier']['layerwise'] = {'filters': ['self_attn', 'mlp'], 'depth_points': 2}\n"
        f"validate(cfg, {str(REPO / 'workflow' / 'schemas' / 'config.schema.yaml')!r})\n"
        f"resolved = resolve(cfg, {str(REPO)!r})\n"
        "assert resolved.merges and resolved.sweeps and resolved.searches and resolved.demo_bases\n"
        "print(sorted(m for m in ('mergekit', 'torch', 'transformers', 'peft', 'optuna') if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "[]"
