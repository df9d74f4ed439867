"""Merging through mergekit: config building, validation, arithmetic, determinism."""
from __future__ import annotations

import pytest
import torch
import yaml
from safetensors.torch import load_file

from helpers_eval import build_model
from wasurenai.common import WorkflowError
from wasurenai.merge import is_task_vector_method, merge, mergekit_config


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Three tiny Llama models with one tokenizer: base and two 'CPT' variants."""
    root = tmp_path_factory.mktemp("models")
    return {role: build_model(root / role, hidden=16, seed=i)
            for i, role in enumerate(["base", "ja-en", "en-ja"])}


def tensors(path):
    return load_file(str(path / "model.safetensors"))


def test_linear_merge_is_the_normalised_weighted_mean(models, tmp_path):
    spec = {"method": "linear", "weights": {"base": 0.5, "ja-en": 0.25, "en-ja": 0.25}}
    merge("linear", spec, models, tmp_path / "out")
    out = tensors(tmp_path / "out")
    ins = {role: tensors(path) for role, path in models.items()}
    for name, value in out.items():
        expected = 0.5 * ins["base"][name] + 0.25 * ins["ja-en"][name] + 0.25 * ins["en-ja"][name]
        torch.testing.assert_close(value, expected, rtol=1e-5, atol=1e-6)
    written = yaml.safe_load((tmp_path / "out" / "mergekit_config.yml").read_text())
    assert written["merge_method"] == "linear" and len(written["models"]) == 3
    assert (tmp_path / "out" / "tokenizer.json").is_file()


def test_task_vector_methods_take_the_base_as_base_model(models):
    spec = {"method": "dare_linear", "weights": {"base": 0.33, "ja-en": 0.33, "en-ja": 0.33},
            "density": 0.5}
    config = mergekit_config("dare", spec, models)
    assert config["base_model"] == str(models["base"].resolve())
    assert [m["model"] for m in config["models"]] == [str(models[r].resolve()) for r in ("ja-en", "en-ja")]
    assert all(m["parameters"]["density"] == 0.5 for m in config["models"])
    assert is_task_vector_method("ties") and not is_task_vector_method("linear")


def test_dare_with_a_seed_is_bit_identical(models, tmp_path):
    spec = {"method": "dare_ties", "weights": {"ja-en": 0.5, "en-ja": 0.5}, "density": 0.5, "seed": 3}
    merge("a", spec, models, tmp_path / "a")
    merge("b", spec, models, tmp_path / "b")
    a, b = tensors(tmp_path / "a"), tensors(tmp_path / "b")
    assert all(torch.equal(a[k], b[k]) for k in a)
    other = dict(spec, seed=4)
    merge("c", other, models, tmp_path / "c")
    c = tensors(tmp_path / "c")
    assert any(not torch.equal(a[k], c[k]) for k in a)


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"method": "averaging", "weights": {"ja-en": 1.0}}, "merges.bad.method"),
        ({"method": "linear", "weights": {"zh-en": 1.0}}, "merges.bad.weights.zh-en"),
        ({"method": "ties", "weights": {"base": 1.0}, "density": 0.5}, "merges.bad.weights"),
    ],
)
def test_bad_specs_name_the_merge(models, tmp_path, spec, message):
    with pytest.raises(WorkflowError, match=message.replace(".", r"\.")):
        merge("bad", spec, models, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_task_vector_method_without_base_fails(models):
    no_base = {k: v for k, v in models.items() if k != "base"}
    with pytest.raises(WorkflowError, match="needs the base model"):
        mergekit_config("t", {"method": "ties", "weights": {"ja-en": 1.0}, "density": 0.5}, no_base)
