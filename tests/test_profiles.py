"""Both SLURM profiles fit every rule of the workflow: the demo, smoke and paper-preset
configs (each with an in-memory sweep, whose rules are generated from the config), as
Snakemake itself loads them with the profile's resources applied. Every rule that would go
to SLURM has its own entry in both profiles, walltimes grow on the retry, and the report's
rules run locally. Needs no SLURM."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from helpers import REPO
from test_workflow import paper_workdir

PROFILES = {name: REPO / "profiles" / name for name in ("slurm", "slurm-a100")}
REPORT_LOCAL = ("aggregate", "plot_sweeps", "plot_tradeoff", "plot_retention", "recommend",
                "plot_training")

# Loads the workflow through Snakemake's API with one profile's default-resources and
# set-resources (as the CLI parses them), and prints per rule: local or not, and its
# mem_mb and runtime evaluated for attempts 1 and 2.
PROBE = r"""
import json, sys
from pathlib import Path
import yaml
from snakemake.api import SnakemakeApi
from snakemake.cli import parse_set_resources
from snakemake.resources import DefaultResources
from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings

snakefile, profile, *configs = sys.argv[1:]
prof = yaml.safe_load(Path(profile, "config.v8+.yaml").read_text())
overwrite = parse_set_resources(
    [f"{r}:{k}={v}" for r, res in prof["set-resources"].items() for k, v in res.items()])
defaults = DefaultResources([f"{k}={v}" for k, v in prof["default-resources"].items()])

def value(val, attempt):
    if callable(val):
        return val(wildcards=None, input=[], attempt=attempt, threads=1, rulename="")
    return val

with SnakemakeApi(OutputSettings(quiet={"all"})) as api:
    wapi = api.workflow(
        resource_settings=ResourceSettings(overwrite_resources=overwrite,
                                           default_resources=defaults),
        config_settings=ConfigSettings(configfiles=[Path(c) for c in configs]),
        snakefile=Path(snakefile), workdir=Path.cwd())
    wapi.dag()
    wf = wapi._workflow
    defaults = wf.resource_settings.default_resources.parsed
    rules = {}
    for rule in wf.rules:
        res = {**defaults, **rule.resources}
        rules[rule.name] = {
            "local": rule.name in wf._localrules or rule.norun,
            "resources": sorted(rule.resources),
            "mem_mb": value(res["mem_mb"], 1),
            "runtime": [value(res["runtime"], a) for a in (1, 2)],
            "gpu": value(res.get("gpu", 0), 1),
        }
    print("RULES " + json.dumps(rules))
"""


def load_profile(path: Path) -> dict:
    return yaml.safe_load((path / "config.v8+.yaml").read_text())


def probe(workdir: Path, profile: Path, *configs: Path) -> dict:
    proc = subprocess.run([sys.executable, "-c", PROBE, str(REPO / "Snakefile"), str(profile),
                           *map(str, configs)], cwd=workdir, capture_output=True, text=True)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RULES ")), None)
    assert proc.returncode == 0 and line, f"{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    return json.loads(line[len("RULES "):])


def in_memory(workdir: Path, configfile: Path, sweep: str) -> Path:
    """An overlay that turns one sweep of ``configfile`` into the sweep mode."""
    sweeps = yaml.safe_load(configfile.read_text())["sweeps"]
    path = workdir / f"in-memory-{sweep}.yaml"
    path.write_text(yaml.safe_dump({"sweeps": {**sweeps, sweep: {**sweeps[sweep], "in_memory": True}}}))
    return path


def configs(name: str, workdir: Path) -> list[Path]:
    demo, smoke = REPO / "config.yaml", REPO / "configs" / "smoke.yaml"
    if name == "demo":
        return [demo, in_memory(workdir, demo, "ties-sweep")]
    if name == "smoke":
        return [demo, smoke, in_memory(workdir, smoke, "linear-sweep")]
    paper = REPO / "configs" / "llm-jp-3-3.7b.yaml"
    paper_workdir(workdir)
    return [paper, in_memory(workdir, paper, "linear-sweep")]


def entry(profile: dict, rule: str) -> dict | None:
    """The profile's set-resources entry a rule reads: its own, or `sweep` for sweep_<name>."""
    res = profile["set-resources"]
    if rule in res:
        return res[rule]
    return res.get("sweep") if rule.startswith("sweep_") else None


@pytest.mark.parametrize("config", ["demo", "smoke", "paper"])
def test_every_slurm_rule_has_resources_in_both_profiles(tmp_path, config):
    files = configs(config, tmp_path)
    rules = probe(tmp_path, PROFILES["slurm"], *files)
    sweeps = [r for r in rules if r.startswith("sweep_")]
    assert sweeps, "the config has an in-memory sweep: its generated rule must be listed"
    remote = [r for r, info in rules.items() if not info["local"]]
    assert {"continual_pretrain", "merge", "evaluate", "tokenize"} <= set(remote)
    for name, path in PROFILES.items():
        profile = load_profile(path)
        missing = [r for r in remote if entry(profile, r) is None]
        assert not missing, f"profiles/{name}: no set-resources entry for {missing}"
    # the generated rules get the shared `sweep` entry (GPU, memory, walltime)
    wanted = load_profile(PROFILES["slurm"])["set-resources"]["sweep"]
    for rule in sweeps:
        info = rules[rule]
        assert info["mem_mb"] == wanted["mem_mb"] and info["gpu"] == wanted["gpu"], (rule, info)
        assert "gpu_model" in info["resources"], (rule, info)
    for rule in remote:
        assert rules[rule]["mem_mb"] == entry(load_profile(PROFILES["slurm"]), rule)["mem_mb"], rule
    # the report rules run in the main process, not as SLURM jobs
    assert all(rules[r]["local"] for r in REPORT_LOCAL), {r: rules[r]["local"] for r in REPORT_LOCAL}
    assert rules["all"]["local"]


@pytest.mark.parametrize("name", list(PROFILES))
def test_walltimes_grow_on_the_retry(tmp_path, name):
    """Attempt 2 (the profile's `retries: 1`) asks for a longer walltime than attempt 1,
    for every rule: the runtimes as Snakemake evaluates them per attempt."""
    profile = load_profile(PROFILES[name])
    assert profile["retries"] >= 1
    rules = probe(tmp_path, PROFILES[name], *configs("smoke", tmp_path))
    for rule, info in rules.items():
        first, second = info["runtime"]
        assert isinstance(first, int) and second > first, (rule, info["runtime"])
    cpt = rules["continual_pretrain"]["runtime"]
    assert cpt[0] >= 24 * 60 and cpt[1] == 2 * cpt[0]  # a 3.7B CPT run, then twice that


def test_profiles_run_jobs_in_the_installed_environment():
    """No profile sets a software deployment method: jobs run in the environment Snakemake
    runs in, and both the profiles and the README say that envs/*.yaml are for --sdm conda."""
    readme = " ".join((REPO / "README.md").read_text().split())
    assert "jobs run in the environment Snakemake runs in" in readme
    assert "`envs/*.yaml` are used only with `--sdm conda`" in readme
    for path in [*PROFILES.values(), REPO / "profiles" / "local"]:
        profile = load_profile(path)
        assert not {"software-deployment-method", "sdm", "use-conda"} & set(profile), path
    for path in PROFILES.values():
        text = " ".join(re.sub(r"^# ?", "", ln) for ln in
                        (path / "config.v8+.yaml").read_text().splitlines())
        assert "Jobs run in the environment this Snakemake runs in" in text, path
        assert "envs/*.yaml are used only if you add `--sdm conda`" in text, path


def test_slurm_profiles_keep_outputs_of_cancelled_jobs():
    """Both profiles rerun incomplete outputs and never let a cancelled job delete its
    outputs (tests/test_slurm.py interrupts a real run to show why)."""
    for path in PROFILES.values():
        profile = load_profile(path)
        assert profile["rerun-incomplete"] is True and profile["keep-incomplete"] is True, path
