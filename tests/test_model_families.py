"""Any causal-LM family through the Auto classes: demo bases of a named family, dropout in
whichever fields a family has, loading that never drops weights, training a Qwen2."""
from __future__ import annotations

import json
import logging

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

from helpers import TINY_ARCH, TINY_HP, tiny_training_data
from wasurenai.common import WorkflowError
from wasurenai.families import check_architecture, dropout_fields, load_pretrained
from wasurenai.train import build_model, train


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return tiny_training_data(tmp_path_factory.mktemp("family_data"))


def saved(model, tok_dir, out):
    model.save_pretrained(out, safe_serialization=True)
    AutoTokenizer.from_pretrained(tok_dir).save_pretrained(out)
    return out


@pytest.mark.parametrize("family, cls, fields", [
    ("llama", "LlamaForCausalLM", ["attention_dropout"]),
    ("qwen2", "Qwen2ForCausalLM", ["attention_dropout"]),
    ("mistral", "MistralForCausalLM", ["attention_dropout"]),
    ("gemma", "GemmaForCausalLM", ["attention_dropout"]),
])
def test_demo_base_is_built_in_the_named_family(data, family, cls, fields, caplog):
    logger = logging.getLogger("family-test")
    with caplog.at_level(logging.INFO, logger="family-test"):
        model = build_model(data.tok, 0.25, dict(TINY_ARCH, family=family), logger=logger)
    assert type(model).__name__ == cls and model.config.model_type == family
    assert model.config.vocab_size == 300 and model.config.hidden_size == TINY_ARCH["hidden_size"]
    assert dropout_fields(model.config) == fields
    assert all(getattr(model.config, f) == 0.25 for f in fields)
    assert f"dropout 0.25 -> {family}.{', '.join(fields)}" in caplog.text


@pytest.mark.parametrize("family", ["llama", "qwen2", "mistral", "gemma"])
def test_generation_from_a_shared_prefill_in_every_family(data, family, tmp_path):
    """The evaluation's shared-prefix prefill (a KV cache copied per batch, padding between
    the prefix and each prompt's own tokens) gives each family's from-scratch predictions
    (near-ties aside): the positions follow the attention mask in each family's cache."""
    from helpers_eval import min_top2_gap
    from wasurenai import evaluation as E

    torch.manual_seed(0)
    model = build_model(data.tok, 0.0, dict(TINY_ARCH, family=family, max_position_embeddings=256))
    model_dir = saved(model, data.tok, tmp_path / family)
    model, tok = E.load_model(model_dir, "cpu")
    shots = "".join(f"### 入力:\n猫が{i}匹います。\n\n### 応答:\nThere are {i} cats.\n\n" for i in (2, 5))
    prompts = [shots + f"### 入力:\n{'猫' * k}が{k}匹います。\n\n### 応答:\n" for k in range(1, 8)]
    assert E.shared_prefix_length(tok(prompts)["input_ids"]) >= E.MIN_SHARED_PREFIX
    shared = E.generate(model, tok, prompts, 8, 3)
    plain = E.generate(model, tok, prompts, 8, 3, share_prefix=False)
    differ = [i for i, (a, b) in enumerate(zip(shared, plain)) if a != b]
    assert all(min_top2_gap(model, tok, prompts[i], 8) < 1e-5 for i in differ), differ
    assert len(differ) <= 1


def test_llama_is_the_default_family(data):
    assert type(build_model(data.tok, 0.0, TINY_ARCH)).__name__ == "LlamaForCausalLM"


def test_qwen2_demo_base_has_its_attention_biases(data):
    model = build_model(data.tok, 0.0, dict(TINY_ARCH, family="qwen2"))
    attn = model.model.layers[0].self_attn
    assert attn.q_proj.bias is not None and attn.k_proj.bias is not None
    assert attn.o_proj.bias is None


def test_every_dropout_field_of_a_family_is_set(data):
    arch = {k: v for k, v in TINY_ARCH.items() if k != "num_key_value_heads"}
    model = build_model(data.tok, 0.3, dict(arch, family="gpt_neox"))
    assert dropout_fields(model.config) == ["attention_dropout", "hidden_dropout"]
    assert model.config.attention_dropout == model.config.hidden_dropout == 0.3


def test_a_family_without_dropout_says_so(data, caplog):
    logger = logging.getLogger("family-test")
    with caplog.at_level(logging.INFO, logger="family-test"):
        build_model(data.tok, 0.1, {"family": "mamba", "hidden_size": 32, "num_hidden_layers": 1},
                    logger=logger)
    assert "the mamba family has no dropout field: hp.dropout = 0.1 is not applied" in caplog.text


@pytest.mark.parametrize("arch, key", [
    (dict(TINY_ARCH, family="gpt_neox"), "demo.architecture.num_key_value_heads"),
    (dict(TINY_ARCH, family="llama", rotary_pct=0.5), "demo.architecture.rotary_pct"),
    (dict(TINY_ARCH, family="vit"), "demo.architecture.family = 'vit'"),  # not a causal LM
    (dict(TINY_ARCH, family="no-such-family"), "demo.architecture.family = 'no-such-family'"),
])
def test_architecture_fields_the_family_lacks_fail_naming_the_key(data, arch, key):
    with pytest.raises(WorkflowError, match=key.replace(".", r"\.")):
        check_architecture(arch)  # when the DAG is built
    with pytest.raises(WorkflowError, match=key.replace(".", r"\.")):
        build_model(data.tok, 0.0, arch)


def test_loaded_base_gets_dropout_in_its_modules(data, tmp_path):
    """Modules copy the dropout at construction: it is set in the config before loading."""
    base = saved(build_model(data.tok, 0.0, TINY_ARCH), data.tok, tmp_path / "base")
    model = load_pretrained(base, 0.5)
    assert model.model.layers[0].self_attn.attention_dropout == 0.5
    ids = torch.arange(16).view(1, 16)
    model.train()
    with torch.no_grad():
        assert not torch.equal(model(ids).logits, model(ids).logits)  # dropout active
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(ids).logits, model(ids).logits)


@pytest.mark.parametrize("saved_as, claimed, what", [
    ("qwen2", "llama", "unexpected keys"),  # Qwen2's q/k/v biases would be dropped
    ("llama", "qwen2", "missing keys"),     # Qwen2's biases would be random
])
def test_a_checkpoint_of_another_family_than_its_config_fails(data, tmp_path, saved_as, claimed, what):
    base = saved(build_model(data.tok, 0.0, dict(TINY_ARCH, family=saved_as)), data.tok,
                 tmp_path / "base")
    config = json.loads((base / "config.json").read_text())
    arch = {"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM"}[claimed]
    config.update(model_type=claimed, architectures=[arch])
    (base / "config.json").write_text(json.dumps(config))
    with pytest.raises(WorkflowError) as err:
        load_pretrained(base, 0.0)
    message = str(err.value)
    assert str(base) in message and what in message and "self_attn.q_proj.bias" in message
    assert f"model_type '{claimed}'" in message and "another model family" in message


def test_weights_of_other_shapes_fail_naming_the_directory(data, tmp_path):
    base = saved(build_model(data.tok, 0.0, TINY_ARCH), data.tok, tmp_path / "base")
    config = json.loads((base / "config.json").read_text())
    config["intermediate_size"] = 2 * TINY_ARCH["intermediate_size"]
    (base / "config.json").write_text(json.dumps(config))
    with pytest.raises(WorkflowError, match=str(base)):
        load_pretrained(base, 0.0)


def test_a_directory_without_a_model_fails_naming_it(tmp_path):
    with pytest.raises(WorkflowError, match=f"{tmp_path}: no loadable model config"):
        load_pretrained(tmp_path, 0.0)


def test_qwen2_trains_from_scratch_and_continues(data, tmp_path):
    """The same loop, no code special to the family: a Qwen2 from scratch, then CPT on it."""
    hp = dict(TINY_HP, steps=3, log_every=1, peak_tflops=1.0, activation_checkpointing=True)
    scratch = tmp_path / "scratch"
    rows = train(data.bin, data.meta, data.tok, scratch, hp, architecture=dict(TINY_ARCH, family="qwen2"),
                 threads=1)
    config = AutoConfig.from_pretrained(scratch)
    assert config.model_type == "qwen2" and config.attention_dropout == TINY_HP["dropout"]
    weights = load_file(scratch / "model.safetensors")
    assert "model.layers.0.self_attn.q_proj.bias" in weights
    n_params = AutoModelForCausalLM.from_pretrained(scratch).num_parameters()
    assert rows[0]["mfu"] == pytest.approx(6 * n_params * rows[0]["tokens_per_s"] / 1e12)

    cpt = tmp_path / "cpt"
    train(data.bin, data.meta, scratch, cpt, dict(hp, lr=1e-3, min_lr=1e-4), init_model=scratch, threads=1)
    after = load_file(cpt / "model.safetensors")
    assert set(after) == set(weights)
    bias = "model.layers.0.self_attn.q_proj.bias"
    assert 0 < (after[bias] - weights[bias]).abs().max().item() < 0.1  # trained, not re-initialised
