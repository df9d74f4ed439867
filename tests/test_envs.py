"""envs/*.yaml (conda envs per rule group) agree with the one pip lock."""
from __future__ import annotations

import re

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
            name, _, version = spec.partition("==")
            assert version, f"{env.name}: {spec} is not pinned"
            assert pins.get(name.lower()) == version, f"{env.name}: {spec} != lock"


def test_every_rule_names_an_existing_env():
    for smk in (REPO / "workflow" / "rules").glob("*.smk"):
        for env in re.findall(r'conda:\s*\n\s*"([^"]+)"', smk.read_text()):
            assert (smk.parent / env).resolve().is_file(), f"{smk.name}: {env}"
