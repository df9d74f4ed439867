"""Causal-LM families through the Auto classes of transformers: the demo base's config
from ``demo.architecture`` (its ``family``: llama, qwen2, mistral, gemma, gpt_neox, ...),
dropout in whichever dropout fields a family has, and loading a checkpoint that fails
rather than drop or invent weights. transformers is imported inside the functions; the
DAG-time check (check_architecture) reads its registry facts (wasurenai.registry) and does
not import it."""
from __future__ import annotations

from pathlib import Path

from wasurenai.common import WorkflowError

DEFAULT_FAMILY = "llama"
# Config fields named like dropout that a causal LM does not use (sequence-classification
# and summary heads).
_UNUSED_DROPOUT = ("classifier_dropout", "summary_first_dropout")


def dropout_fields(config) -> list[str]:
    """The dropout probabilities of a family's config: every numeric field named
    ``*dropout*`` or ``*_pdrop`` (Llama, Qwen2, Mistral, Gemma: attention_dropout;
    GPT-NeoX: attention_dropout, hidden_dropout; GPT-2: attn_pdrop, embd_pdrop, resid_pdrop)."""
    return sorted(
        key for key, value in config.to_dict().items()
        if ("dropout" in key or key.endswith("_pdrop")) and key not in _UNUSED_DROPOUT
        and isinstance(value, (int, float)) and not isinstance(value, bool)
    )


def set_dropout(config, dropout: float, logger=None) -> list[str]:
    """Set ``dropout`` in every dropout field of ``config`` (before the model is built:
    modules copy these at construction); log which, or that the family has none."""
    fields = dropout_fields(config)
    for key in fields:
        setattr(config, key, float(dropout))
    if logger:
        if fields:
            logger.info("dropout %g -> %s.%s", dropout, config.model_type, ", ".join(fields))
        else:
            logger.warning("the %s family has no dropout field: hp.dropout = %g is not applied",
                           config.model_type, dropout)
    return fields


def config_fields(cls) -> set[str]:
    """The fields a family's config class has: those of its default instance, and its aliases."""
    return set(cls().to_dict()) | set(cls.attribute_map)


def transformers_facts() -> dict:
    """What check_architecture reads of transformers (registry.GENERATORS): every causal-LM
    model type and its config fields, those all of them share listed once (``null``: no
    config can be made with defaults, so check_architecture asks transformers)."""
    from transformers import CONFIG_MAPPING
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    fields = {}
    for family in sorted(MODEL_FOR_CAUSAL_LM_MAPPING_NAMES):
        try:
            fields[family] = config_fields(CONFIG_MAPPING[family])
        except Exception:  # musicgen: its config needs sub-configs
            fields[family] = None
    common = set.intersection(*(f for f in fields.values() if f is not None))
    return {"common_fields": sorted(common),
            "causal_lm": {f: None if v is None else sorted(v - common) for f, v in fields.items()}}


def check_architecture(architecture: dict) -> tuple[str, dict]:
    """(family, other fields) of ``demo.architecture``: its ``family`` (a transformers
    model type with a causal-LM class; default llama) and fields that family's config has.
    Errors name the key; run when the DAG is built (no model is made), from transformers'
    registry facts (registry.facts: transformers is not imported)."""
    from .registry import facts

    known_families = facts("transformers")
    fields = dict(architecture)
    family = fields.pop("family", DEFAULT_FAMILY)
    if family not in known_families["causal_lm"]:
        raise WorkflowError(
            f"config key demo.architecture.family = {family!r}: not a causal-LM model type of "
            "transformers (e.g. llama, qwen2, mistral, gemma, gpt_neox)"
        )
    extra = known_families["causal_lm"][family]
    known = config_fields(config_class(family)) if extra is None else {*known_families["common_fields"], *extra}
    for key in fields:
        if key not in known:
            raise WorkflowError(f"config key demo.architecture.{key}: {family} configs have no such field")
    return family, fields


def config_class(family: str):
    from transformers import CONFIG_MAPPING

    return CONFIG_MAPPING[family]


def demo_config(architecture: dict, tok, dropout: float, logger=None):
    """The config of a demo base: ``demo.architecture`` (see check_architecture) with the
    tokenizer's vocabulary and special ids, and ``dropout`` set."""
    family, fields = check_architecture(architecture)
    try:
        config = config_class(family)(
            **fields, vocab_size=len(tok), bos_token_id=tok.bos_token_id,
            eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
        )
    except (TypeError, ValueError) as err:
        raise WorkflowError(f"config key demo.architecture: {err}") from err
    set_dropout(config, dropout, logger)
    return config


def load_pretrained(model_dir: str | Path, dropout: float, logger=None):
    """A causal LM of whichever family its config.json names (Auto classes), with dropout
    set. Weights the checkpoint lacks, holds beyond the model, or holds in other shapes
    fail naming the directory: nothing is silently dropped or initialised at random."""
    from transformers import AutoConfig, AutoModelForCausalLM

    try:
        config = AutoConfig.from_pretrained(model_dir)
    except (OSError, ValueError, KeyError) as err:
        raise WorkflowError(f"{model_dir}: no loadable model config ({err})") from err
    set_dropout(config, dropout, logger)
    try:
        model, info = AutoModelForCausalLM.from_pretrained(
            model_dir, config=config, dtype="float32", output_loading_info=True)
    except (OSError, ValueError, RuntimeError) as err:
        raise WorkflowError(
            f"{model_dir}: the weights do not load as its config's {config.model_type} "
            f"({type(err).__name__}: {str(err)[:500]})"
        ) from err
    problems = [f"{len(info[k])} {k.replace('_', ' ')} ({', '.join(map(str, info[k][:3]))}"
                f"{', ...' if len(info[k]) > 3 else ''})"
                for k in ("missing_keys", "unexpected_keys", "mismatched_keys", "error_msgs")
                if info.get(k)]
    if problems:
        raise WorkflowError(
            f"{model_dir}: the checkpoint does not match its config.json (model_type "
            f"{config.model_type!r}, {type(model).__name__}): {'; '.join(problems)}. Is the "
            "checkpoint of another model family than its config says?"
        )
    return model
