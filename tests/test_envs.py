"""envs/*.yaml (conda envs per rule group) agree with the one pip lock."""
from __future__ import annotations

import re
from pathlib import Path

import yaml

from helpers import REPO


def lock_pins() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.lock").read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.\-\[\]]+)==(\S+)$", line.strip())
        if m:
            pins[m.group(1).lower().split("[")[0]] = m.group(2)
    return pins


def test_env_pins_match_the_lock():
    pins = lock_pins()
    envs = sorted((REPO / "envs").glob("*.yaml"))
    assert envs, "no conda envs"
    for env in envs:
        deps = yaml.safe_load(env.read_text())["dependencies"]
        pip = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
        assert pip, env
        for spec in pip:
            if spec.startswith("--editable"):
                continue  # the library itself: test_envs_install_the_library
            name, _, version = spec.partition("==")
            assert version, f"{env.name}: {spec} is not pinned"
            assert pins.get(name.lower()) == version, f"{env.name}: {spec} != lock"


def test_every_rule_names_an_existing_env():
    for smk in (REPO / "workflow" / "rules").glob("*.smk"):
        for env in re.findall(r'conda:\s*\n\s*"([^"]+)"', smk.read_text()):
            assert (smk.parent / env).resolve().is_file(), f"{smk.name}: {env}"


def test_envs_install_the_library(tmp_path):
    """With --sdm conda, Snakemake writes each env file to <workdir>/.snakemake/conda/<hash>.yaml
    (Persistence's default conda prefix) and conda runs pip in that file's directory: the
    envs' relative `--editable` path must lead from there to this repository's pyproject.toml."""
    from snakemake.persistence import Persistence

    prefix = Path(Persistence.__init__.__code__.co_filename).read_text()
    assert 'os.path.join(self.path, "conda")' in prefix, "Snakemake's default conda prefix moved"
    for env in sorted((REPO / "envs").glob("*.yaml")):
        deps = yaml.safe_load(env.read_text())["dependencies"]
        pip = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
        editable = [s.split(None, 1)[1].split("#")[0].strip() for s in pip if s.startswith("--editable")]
        assert len(editable) == 1, f"{env.name}: the library is not installed"
        root = (REPO / ".snakemake" / "conda" / editable[0]).resolve()
        assert root == REPO, f"{env.name}: {editable[0]} from .snakemake/conda is {root}"
        assert 'name = "wasurenai"' in (root / "pyproject.toml").read_text()
