"""The workflow deployed as a Snakemake module, the way snakedeploy sets it up: a directory
of its own with workflow/Snakefile (`module wasurenai: snakefile: ...` and `use rule * from
wasurenai`) and config/config.yaml, here pointing at this checkout instead of github(...).
Its config is the smoke config (config.yaml + configs/smoke.yaml), cut to one base, one
named merge and one in-memory sweep so that the run stays short while every rule kind runs,
with report.reference naming the reference file this repository ships."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from helpers import REPO, job_counts

DEPLOYED_SNAKEFILE = f"""\
configfile: "config/config.yaml"


module wasurenai:
    snakefile:
        "{REPO / 'Snakefile'}"
    config:
        config


use rule * from wasurenai
"""
EVERY_RULE = {"synthesize_data", "demo_tokenizer", "demo_texts", "build_demo_base", "demo_comet",
              "prepare_corpus", "tokenize", "continual_pretrain", "merge", "evaluate",
              "sweep_linear-sweep", "aggregate", "plot_sweeps", "plot_tradeoff", "plot_retention",
              "recommend", "plot_training", "search_worker", "search_front", "search_report", "all"}


def merged(base: dict, overlay: dict) -> dict:
    """Snakemake's merge of two --configfile's: nested mappings merged, the rest replaced."""
    out = dict(base)
    for key, value in overlay.items():
        both = isinstance(value, dict) and isinstance(base.get(key), dict)
        out[key] = merged(base[key], value) if both else value
    return out


def deploy(root: Path) -> Path:
    """The snakedeploy layout in ``root``, with the cut-down smoke config."""
    config = merged(yaml.safe_load((REPO / "config.yaml").read_text()),
                    yaml.safe_load((REPO / "configs" / "smoke.yaml").read_text()))
    config["bases"] = {"tiny": config["bases"]["tiny"]}
    config["merges"] = {"linear": config["merges"]["linear"]}
    config["sweeps"] = {"linear-sweep": {**config["sweeps"]["linear-sweep"], "in_memory": True}}
    config["report"]["reference"] = "configs/reference/paper.yaml"  # shipped, not in root
    (root / "workflow").mkdir(parents=True)
    (root / "config").mkdir()
    (root / "workflow" / "Snakefile").write_text(DEPLOYED_SNAKEFILE)
    (root / "config" / "config.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))
    return root


def run(root: Path, *args: str) -> subprocess.CompletedProcess:
    """snakemake in the deployed directory, finding workflow/Snakefile by itself."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", *args], cwd=root,
                          env=env, capture_output=True, text=True)
    assert proc.returncode == 0, f"{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}"
    return proc


def test_deployed_module_dry_run_has_every_rule(tmp_path):
    root = deploy(tmp_path / "deployed")
    proc = run(root, "-n")
    counts = job_counts(proc.stdout)
    assert set(counts) == EVERY_RULE, counts
    assert counts["evaluate"] == 4 and counts["sweep_linear-sweep"] == 1  # base, ja-en, en-ja, linear
    # the shipped reference is found in the module's directory, not the deploying one
    assert str(REPO / "configs" / "reference" / "paper.yaml") in proc.stdout
    assert not (root / "configs").exists()


@pytest.mark.e2e
def test_deployed_module_runs_to_completion(tmp_path):
    root = deploy(tmp_path / "deployed")
    run(root)
    tables, figures = root / "results" / "tables", root / "results" / "figures"
    table1 = pd.read_csv(tables / "table1.csv")
    assert set(table1["model"]) == {"base", "ja-en", "en-ja", "merged (Linear)"}
    assert (tables / "table1_vs_reference.md").read_text().strip()
    assert len(pd.read_csv(tables / "sweeps.csv")) == 1  # the in-memory sweep's one point
    for name in ("figure2", "tradeoff", "retention", "training_loss"):
        assert (figures / f"{name}.png").stat().st_size > 0, name
    assert "frontier-trial" in (tables / "search_frontier.md").read_text()  # a checkpoint in a module
    run(root, "--report", "report.html")  # captions and categories, from the module's files
    assert "table1" in (root / "report.html").read_text()
    # a second run finds everything up to date
    again = run(root, "-n")
    assert "Nothing to be done" in again.stdout + again.stderr
