"""The model a run trains and the files it is saved with: a causal LM of any family
(through AutoConfig / AutoModelForCausalLM; a base's config.json names its family, a demo
base's is ``demo.architecture.family``), its tokenizer files, and the checks that the
packed data fit it.

Dropout: ``hp.dropout`` goes into every dropout field the family's config has (Llama, Qwen2,
Mistral, Gemma: ``attention_dropout`` alone; GPT-NeoX: attention and hidden), set before the
model is built; the log says which, or that the family has none.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from transformers import AutoTokenizer

from wasurenai.common import WorkflowError
from wasurenai.families import demo_config, load_pretrained

TOKENIZER_FILES = (
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model",
    "added_tokens.json", "vocab.json", "merges.txt", "chat_template.jinja",
)


def build_model(tokenizer_dir: str | Path, dropout: float, architecture: dict | None = None,
                init_model: str | Path | None = None, logger=None):
    """A causal LM (any family, through the Auto classes): from ``init_model`` (HF dir), or
    from scratch with ``architecture`` (see families.demo_config; call set_seed first)."""
    if (architecture is None) == (init_model is None):
        raise WorkflowError("training: give exactly one of input model or params.architecture")
    if init_model is not None:
        return load_pretrained(init_model, dropout, logger)
    from transformers import AutoModelForCausalLM

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    return AutoModelForCausalLM.from_config(demo_config(architecture, tok, dropout, logger))


def enable_activation_checkpointing(model) -> None:
    """Recompute each layer's activations in backward (cpt.activation_checkpointing)."""
    if not model.supports_gradient_checkpointing:
        raise WorkflowError(
            f"cpt.activation_checkpointing: {type(model).__name__} does not support it; "
            "set it to false"
        )
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.config.use_cache = False


def copy_tokenizer_files(src: str | Path, dst: str | Path) -> None:
    copied = [n for n in TOKENIZER_FILES if (Path(src) / n).is_file()]
    if "tokenizer_config.json" not in copied:
        raise WorkflowError(f"{src}: no tokenizer_config.json (need an HF tokenizer directory)")
    for name in copied:
        shutil.copy2(Path(src) / name, Path(dst) / name)


def check_data(tokens: np.ndarray, meta: dict, meta_path, config) -> None:
    max_positions = getattr(config, "max_position_embeddings", None)  # None: any length
    if max_positions is not None and meta["window"] > max_positions:
        raise WorkflowError(
            f"{meta_path}: window {meta['window']} > the model's max_position_embeddings "
            f"{max_positions}"
        )
    top = int(tokens.max())
    if top >= config.vocab_size:
        raise WorkflowError(
            f"{meta_path}: token id {top} >= the model's vocab_size {config.vocab_size} "
            "(tokens made with another tokenizer?)"
        )
