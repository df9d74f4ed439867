"""A third base of another family (a tiny Qwen2) through the DAG: CPT -> merge -> evaluate,
with nothing special to it; the run's working directory and the base's directory have
spaces in their paths."""
from __future__ import annotations

import json
import math

import pytest
import yaml
from safetensors.torch import load_file
from transformers import AutoConfig

from helpers import REPO, snakemake
from wasurenai.common import set_seed
from wasurenai.train import build_model, copy_tokenizer_files

pytestmark = pytest.mark.e2e

CONFIGS = [str(REPO / "config.yaml"), str(REPO / "configs" / "smoke.yaml")]
MODELS = ("base", "en-ja", "enja-only")  # the smoke overlay's merge of base and en-ja


@pytest.fixture(scope="module")
def qwen2_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("families") / "work dir"
    workdir.mkdir()
    snakemake(workdir, "results/models/demo/tokenizer", "--cores", "2", "--configfile", *CONFIGS)
    # A random tiny Qwen2 of the smoke size on the demo tokenizer, by the library's own
    # builder (as a user's checkpoint would be: a directory with config and weights).
    tokenizer = workdir / "results" / "models" / "demo" / "tokenizer"
    arch = yaml.safe_load((REPO / "configs" / "smoke.yaml").read_text())["demo"]["architecture"]
    set_seed(0)
    model = build_model(tokenizer, 0.0, {**arch, "family": "qwen2"})
    base = workdir / "my models" / "qwen2 tiny"
    model.save_pretrained(base, safe_serialization=True)
    copy_tokenizer_files(tokenizer, base)
    overlay = workdir / "qwen2 base.yaml"
    overlay.write_text(yaml.safe_dump({"bases": {"qwen2": {"label": "Qwen2", "path": str(base)}}}))
    targets = [f"results/eval/qwen2/{m}.json" for m in MODELS]
    snakemake(workdir, *targets, "--cores", "2", "--configfile", *CONFIGS, str(overlay))
    return workdir, base


def test_qwen2_base_runs_cpt_merge_and_evaluation(qwen2_run):
    workdir, base = qwen2_run
    results = workdir / "results"
    cpt, merged = results / "models" / "cpt" / "qwen2" / "en-ja", results / "models" / "merged" / "qwen2" / "enja-only"
    for model_dir in (cpt, merged):
        assert AutoConfig.from_pretrained(model_dir).model_type == "qwen2"
    bias = "model.layers.0.self_attn.q_proj.bias"
    before = load_file(base / "model.safetensors")
    after = load_file(cpt / "model.safetensors")
    assert set(after) == set(before) and (after[bias] != before[bias]).any()  # trained, none dropped
    log = (results / "logs" / "continual_pretrain" / "qwen2" / "en-ja.log").read_text()
    assert "dropout 0.1 -> qwen2.attention_dropout" in log
    for model in MODELS:
        result = json.loads((results / "eval" / "qwen2" / f"{model}.json").read_text())
        assert result["base"] == "qwen2" and result["model"] == model
        scores = [v for v in _leaves(result) if isinstance(v, float)]
        assert scores and all(math.isfinite(v) for v in scores), result
    assert not (results / "models" / "cpt" / "tiny").exists()  # only the targets' jobs ran


def test_paths_with_spaces_work_end_to_end(qwen2_run):
    workdir, base = qwen2_run
    assert " " in str(workdir) and " " in str(base)
    report = json.loads((workdir / "results" / "corpus" / "en-ja.report.json").read_text())
    assert report["kept"] > 0 and report["sampled"] == 300
    tokens = json.loads((workdir / "results" / "tokens" / "qwen2" / "en-ja.json").read_text())
    assert tokens["n_windows"] > 0


def _leaves(obj):
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _leaves(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _leaves(v)
    else:
        yield obj
