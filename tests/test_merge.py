"""Merging through mergekit: config building, validation, arithmetic, determinism."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
import yaml
from safetensors.torch import load_file
from snakemake.io import Namedlist

from wasurenai.common import WorkflowError
from wasurenai.jobs import MergeJob
from wasurenai.merge import METHOD_FACTS, main, merge, mergekit_config

ROLES = ["base", "ja-en", "en-ja"]


def build_model(out_dir, seed: int):
    """A tiny random LlamaForCausalLM (hidden 16, 2 layers) with a word-level tokenizer."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(["<s>", "</s>", "<pad>", "<unk>", "猫", "cat", "sat"])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>",
                            pad_token="<pad>", unk_token="<unk>").save_pretrained(out_dir)
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(vocab), hidden_size=16, intermediate_size=32,
                         num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
                         max_position_embeddings=64)
    LlamaForCausalLM(config).save_pretrained(out_dir, safe_serialization=True)
    return out_dir


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return {role: build_model(root / role, seed=i) for i, role in enumerate(ROLES)}


@pytest.fixture(scope="module")
def weights(models):
    return {role: load_file(str(path / "model.safetensors")) for role, path in models.items()}


def tensors(path):
    return load_file(str(path / "model.safetensors"))


def test_linear_merge_is_the_normalised_weighted_mean(models, weights, tmp_path):
    # mergekit's linear normalises by default: 2:1:1 is 0.5/0.25/0.25
    spec = {"label": "Linear", "method": "linear", "weights": {"base": 2.0, "ja-en": 1.0, "en-ja": 1.0}}
    smk = SimpleNamespace(
        input=Namedlist(fromdict={r: str(models[r]) for r in ROLES}), output=Namedlist([str(tmp_path / "out")]),
        params=Namedlist(fromdict={"spec": spec}), wildcards=SimpleNamespace(merge="linear"),
        log=Namedlist([str(tmp_path / "merge.log")]), threads=1,
    )
    main(MergeJob.from_snakemake(smk))
    out = tensors(tmp_path / "out")
    assert out.keys() == weights["base"].keys()
    for key, value in out.items():
        expected = 0.5 * weights["base"][key] + 0.25 * weights["ja-en"][key] + 0.25 * weights["en-ja"][key]
        torch.testing.assert_close(value, expected, rtol=1e-6, atol=1e-7)
    text = (tmp_path / "out" / "mergekit_config.yml").read_text()
    written = yaml.safe_load(text)
    assert written["merge_method"] == "linear" and written["parameters"] == {"normalize": True}
    assert [m["parameters"]["weight"] for m in written["models"]] == [2.0, 1.0, 1.0]
    assert written["base_model"] == str(models["base"].resolve())
    from mergekit.config import MergeConfiguration
    MergeConfiguration.model_validate(written)  # the YAML is a valid mergekit config
    for name in ("tokenizer.json", "tokenizer_config.json", "config.json"):
        assert (tmp_path / "out" / name).is_file()
    from transformers import AutoTokenizer, LlamaForCausalLM
    LlamaForCausalLM.from_pretrained(tmp_path / "out")
    assert AutoTokenizer.from_pretrained(tmp_path / "out").eos_token == "</s>"
    assert "merge linear" in (tmp_path / "merge.log").read_text()


def test_dare_linear_ignores_the_base_weight_and_does_not_normalise(models, weights, tmp_path):
    # Table 4's DARE row: base 0.33, ja-en 0.33, en-ja 0.33, no density (mergekit: 1.0 = keep all)
    spec = {"method": "dare_linear", "weights": {"base": 0.33, "ja-en": 0.33, "en-ja": 0.33}}
    merge("dare", spec, models, tmp_path / "out")
    out = tensors(tmp_path / "out")
    for key, value in out.items():
        base = weights["base"][key]
        expected = base + 0.33 * (weights["ja-en"][key] - base) + 0.33 * (weights["en-ja"][key] - base)
        torch.testing.assert_close(value, expected, rtol=1e-5, atol=1e-6)
    text = (tmp_path / "out" / "mergekit_config.yml").read_text()
    assert "The weight listed for base_model (0.33) has no effect" in text
    written = yaml.safe_load(text)
    assert written["base_model"] == str(models["base"].resolve())
    assert written["parameters"] == {"int8_mask": False, "normalize": False, "rescale": True, "lambda": 1.0}


def test_dare_ties_with_a_seed_is_bit_identical_and_the_base_weight_changes_nothing(models, tmp_path):
    spec = {"method": "dare_ties", "weights": {"ja-en": 0.5, "en-ja": 0.5}, "density": 0.5, "seed": 3}
    config = mergekit_config("t", spec, models)
    assert [m["model"] for m in config["models"]] == [str(models[r].resolve()) for r in ("ja-en", "en-ja")]
    assert all(m["parameters"] == {"weight": 0.5, "density": 0.5} for m in config["models"])
    merge("a", spec, models, tmp_path / "a")
    merge("b", spec, models, tmp_path / "b")
    merge("c", dict(spec, seed=4), models, tmp_path / "c")
    merge("d", dict(spec, weights={"base": 0.9, **spec["weights"]}), models, tmp_path / "d")
    a, b, c, d = (tensors(tmp_path / x) for x in "abcd")
    assert all(torch.equal(a[k], b[k]) and torch.equal(a[k], d[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)


def test_ties_runs_and_keeps_the_base_where_no_task_vector_survives(models, weights, tmp_path):
    spec = {"method": "ties", "weights": {"ja-en": 0.5, "en-ja": 0.5}, "density": 0.5}
    merge("ties", spec, models, tmp_path / "out")
    out = tensors(tmp_path / "out")
    key = "model.layers.0.mlp.down_proj.weight"
    changed = (out[key] != weights["base"][key]).float().mean().item()
    assert 0.3 < changed < 0.9  # each task vector keeps its top 50%; their union is changed
    assert yaml.safe_load((tmp_path / "out" / "mergekit_config.yml").read_text())["parameters"]["normalize"] is True


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"method": "averaging", "weights": {"ja-en": 1.0}}, "merges.bad.method: unknown mergekit method"),
        ({"method": "slerp", "weights": {"ja-en": 1.0}, "parameters": {"t": 0.5}},
         "merges.bad.weights: mergekit's slerp takes no per-model weight"),
        ({"method": "slerp", "models": ["base", "ja-en"]}, "merges.bad.parameters.t: required"),
        ({"method": "slerp", "models": ["ja-en", "en-ja"], "parameters": {"t": 0.5}},
         "merges.bad.models: slerp merges the base with exactly one other"),
        ({"method": "model_stock", "models": ["base", "ja-en"]}, "at least 2 models besides the base"),
        ({"method": "linear", "weights": {"ja-en": 1.0}, "parameters": {"lambda": 2}},
         "merges.bad.parameters.lambda: not a parameter of mergekit's linear"),
        ({"method": "linear", "weights": {"zh-en": 1.0}}, "merges.bad.weights.zh-en: no model"),
        ({"method": "linear", "weights": {"ja-en": "x"}}, "merges.bad.weights.ja-en: not a number"),
        ({"method": "linear", "weights": {"ja-en": 1.0}, "density": 0.5}, "merges.bad.density: not a per-model parameter"),  # noqa: E501
        ({"method": "ties", "weights": {"base": 1.0}, "density": 0.5}, "merges.bad.weights: no model to merge"),
    ],
)
def test_bad_specs_name_the_merge(models, tmp_path, spec, message):
    with pytest.raises(WorkflowError, match=message):
        merge("bad", spec, models, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_task_vector_method_without_base_fails(models, tmp_path):
    no_base = {k: v for k, v in models.items() if k != "base"}
    with pytest.raises(WorkflowError, match="merges.t: method ties needs the 'base' model"):
        mergekit_config("t", {"method": "ties", "weights": {"ja-en": 1.0}, "density": 0.5}, no_base)
    with pytest.raises(WorkflowError, match="merges.m: model for role 'base' is not an HF model dir"):
        mergekit_config("m", {"method": "linear", "weights": {"base": 1.0}}, {"base": tmp_path})


WEIGHTLESS = {  # every mergekit 0.1.4 method without per-model weights, as a merge spec
    "slerp": {"models": ["base", "ja-en"], "parameters": {"t": 0.3}},
    "nearswap": {"models": ["base", "ja-en"], "parameters": {"t": 0.001}},
    "model_stock": {"models": ["ja-en", "en-ja"]},
    "karcher": {"models": ["base", "ja-en", "en-ja"]},
    "sce": {"models": ["ja-en", "en-ja"]},
    "arcee_fusion": {"models": ["base", "ja-en"]},
    "passthrough": {"models": ["ja-en"]},
}


def test_every_mergekit_method_is_accepted_and_merges(models, weights, tmp_path):
    from mergekit.merge_methods import REGISTERED_MERGE_METHODS

    for method in sorted(REGISTERED_MERGE_METHODS):
        spec = {"method": method, **WEIGHTLESS.get(method, {"weights": {"ja-en": 0.5, "en-ja": 0.5}})}
        if method in ("linear", "nuslerp", "multislerp"):
            spec["weights"] = {"base": 0.5, "ja-en": 0.25, "en-ja": 0.25} if method == "linear" else {"ja-en": 0.5, "en-ja": 0.5}  # noqa: E501
        out = tmp_path / method
        merge(method, spec, models, out)
        merged = tensors(out)
        assert merged.keys() == weights["base"].keys(), method
        assert all(torch.isfinite(t).all() for t in merged.values()), method


def test_della_with_a_seed_is_bit_identical_and_the_seed_matters(models, tmp_path):
    spec = {"method": "della", "weights": {"ja-en": 0.5, "en-ja": 0.5}, "density": 0.5,
            "epsilon": 0.1, "seed": 7}
    for run in ("a", "b"):
        merge("della", spec, models, tmp_path / run)
    merge("della", {**spec, "seed": 8}, models, tmp_path / "c")
    a, b, c = (tensors(tmp_path / r) for r in "abc")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)


def test_incompatible_models_fail_before_any_tensor_is_read(models, tmp_path, monkeypatch):
    import json
    import shutil

    for key, value in (("vocab_size", 99), ("architectures", ["MistralForCausalLM"])):
        other = tmp_path / key
        shutil.copytree(models["en-ja"], other)
        cfg = json.loads((other / "config.json").read_text())
        cfg[key] = value
        (other / "config.json").write_text(json.dumps(cfg))
        (other / "model.safetensors").write_bytes(b"not read")  # reading it would fail differently
        with pytest.raises(WorkflowError, match=rf"merges.x: models differ in {key}: .*{models['base']}.* .*{other}"):
            merge("x", {"method": "linear", "weights": {"base": 1, "en-ja": 1}},
                  {**models, "en-ja": other}, tmp_path / "out")
        assert not (tmp_path / "out").exists()


def test_names_and_paths_with_spaces_and_shell_characters(models, tmp_path):
    import shutil

    odd = tmp_path / "a b;$(touch x)'\"" / "m"
    shutil.copytree(models["ja-en"], odd)
    out = tmp_path / "merged; rm -rf $HOME" / "lin ear"
    merge("lin ear; $(x)", {"method": "linear", "weights": {"base": 1, "ja-en": 1}},
          {**models, "ja-en": odd}, out)
    assert (out / "model.safetensors").is_file() or any(out.glob("*.safetensors"))
    assert not (tmp_path / "x").exists()


def test_a_merge_killed_mid_write_leaves_no_output(models, tmp_path, monkeypatch):
    import mergekit.io.tensor_writer as tw

    def boom(*args, **kwargs):
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(tw.TensorWriter, "finalize", boom)
    with pytest.raises(KeyboardInterrupt):
        merge("k", {"method": "linear", "weights": {"base": 1, "ja-en": 1}}, models, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []  # no output, no temporary left behind


def test_task_arithmetic_at_a_base_share_equals_linear_at_that_share(models, tmp_path):
    """The schema's definition of base_share for task-vector methods, checked on tensors."""
    from wasurenai.grid import expand_sweep

    tv = {"task_arithmetic"}
    for method in ("linear", "task_arithmetic"):
        (spec,) = expand_sweep(method, {"label": method, "method": method, "base_share": [0.3]},
                               ROLES[1:], tv).values()
        merge(method, spec, models, tmp_path / method)
    lin, ta = tensors(tmp_path / "linear"), tensors(tmp_path / "task_arithmetic")
    assert all(torch.allclose(lin[k], ta[k], atol=1e-6) for k in lin)


def test_every_method_in_the_facts_table_is_in_mergekits_registry():
    """The model counts and task-vector rows this project holds name mergekit's methods:
    a method mergekit renames or drops fails here, and so does a task-vector method the
    table does not list (or lists wrongly)."""
    from mergekit.merge_methods.generalized_task_arithmetic import GeneralizedTaskArithmeticMerge
    from mergekit.merge_methods.registry import REGISTERED_MERGE_METHODS

    assert set(METHOD_FACTS) - set(REGISTERED_MERGE_METHODS) == set()
    task_vectors = {n for n, m in REGISTERED_MERGE_METHODS.items()
                    if isinstance(m, GeneralizedTaskArithmeticMerge)}
    assert {n for n, f in METHOD_FACTS.items() if f.task_vectors} == task_vectors


def test_importing_and_planning_merges_leaves_the_environment_be(tmp_path):
    """Building the DAG plans every merge: that must not change the Snakemake process's
    environment (every job would inherit it); a merge job sets what it needs itself."""
    import os
    import subprocess
    import sys

    code = ("import os, json; before = dict(os.environ)\n"
            "from wasurenai.merge import plan, roles_used\n"
            "plan('d', {'method': 'dare_ties', 'weights': {'ja-en': 1.0}, 'density': 0.5}, ['base', 'ja-en'])\n"
            "roles_used('l', {'method': 'linear', 'weights': {'ja-en': 1.0}}, ['base', 'ja-en'])\n"
            "print(json.dumps({k: v for k, v in os.environ.items() if before.get(k) != v}))")
    env = {k: v for k, v in os.environ.items()
           if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "THP_MEM_ALLOC_ENABLE")}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "{}"


def test_a_merge_jobs_process_imports_no_scikit_learn():
    """The merge entry scripts tell transformers that scikit-learn is absent before mergekit
    imports transformers' generation code (1-2 s of every merge job); mergekit still imports
    and finds its merge methods."""
    import subprocess
    import sys

    code = ("import sys\nfrom wasurenai.common import offline, skip_unused_imports\noffline()\n"
            "skip_unused_imports()\nfrom mergekit.merge import run_merge\n"
            "from mergekit.merge_methods import REGISTERED_MERGE_METHODS\n"
            "assert 'linear' in REGISTERED_MERGE_METHODS\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'sklearn'))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
