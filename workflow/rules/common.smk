# Config validation and the path helpers the rules share.
# Directory map, with R = config["results"]
#   R/data/synthetic/       generated demo data (corpus TSV, monolingual text, llm-jp-eval sets)
#   R/corpus/               cleaned, sampled, prompt-formatted text per direction (+ reports)
#   R/tokens/{tokenizer}/   packed token windows
#   R/models/base|cpt|merged/  HF model directories
#   R/eval/{base}/{model}.json ; R/tables/ ; R/logs/ ; R/benchmarks/
import os
import re

from snakemake.utils import validate

validate(config, schema="../schemas/config.schema.yaml")

# Rules run library code from scripts/wasurenai; entry scripts extend sys.path themselves via
# Snakemake (the script's folder), and shell-launched tools inherit this.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

R = config["results"]
DIRECTIONS = config["directions"]
BASES = list(config["bases"])
MERGES = list(config["merges"])
EVAL_DATASETS = [d for names in config["evaluation"]["categories"].values() for d in names]
DEMO_BASES = [b for b, spec in config["bases"].items() if "demo" in spec]
MERGE_ROLES = ["base", *DIRECTIONS]  # the models a merge combines; merges may not reuse these names
MODELS = [*MERGE_ROLES, *MERGES]  # every model evaluated per base


def _check_config():
    """Cross-key checks a JSON schema cannot express; errors name the key."""
    for name in MERGES:
        if name in MERGE_ROLES:
            raise ValueError(
                f"config key merges.{name}: the name clashes with a model name "
                f"({sorted(MERGE_ROLES)}); rename the merge"
            )
        for role in config["merges"][name]["weights"]:
            if role not in MERGE_ROLES:
                raise ValueError(
                    f"config key merges.{name}.weights.{role}: unknown model role; "
                    f"use one of {sorted(MERGE_ROLES)}"
                )
    for base, spec in config["bases"].items():
        if ("demo" in spec) == ("path" in spec):
            raise ValueError(f"config key bases.{base}: give exactly one of 'path' or 'demo'")
        if spec.get("demo") == "instruct" and spec.get("from") not in config["bases"]:
            raise ValueError(f"config key bases.{base}.from: must name another base")
    if config["report"]["table1_merge"] not in config["merges"]:
        raise ValueError("config key report.table1_merge: must name one of the merges")
    for direction in config["corpus"]["templates"]:
        if direction not in DIRECTIONS:
            raise ValueError(f"config key corpus.templates.{direction}: not in directions")
    for direction in DIRECTIONS:
        if direction not in config["corpus"]["templates"]:
            raise ValueError(f"config key corpus.templates: no template for {direction}")


_check_config()


def tokenizer_name(base):
    """Bases that share a tokenizer share packed tokens: demo bases use the demo tokenizer."""
    spec = config["bases"][base]
    return spec.get("tokenizer", "demo" if "demo" in spec else base)


def tokenizer_dir(name):
    if name == "demo":
        return f"{R}/models/demo/tokenizer"
    owners = [b for b in BASES if tokenizer_name(b) == name and "path" in config["bases"][b]]
    return base_model_dir(owners[0] if owners else name)


def base_model_dir(base):
    spec = config["bases"][base]
    return spec["path"] if "path" in spec else f"{R}/models/base/{base}"


def model_dir(base, model):
    """The directory of any evaluated model: the base, a CPT direction, or a merge."""
    if model == "base":
        return base_model_dir(base)
    if model in DIRECTIONS:
        return f"{R}/models/cpt/{base}/{model}"
    return f"{R}/models/merged/{base}/{model}"


def eval_runs():
    return [{"base": b, "model": m} for b in BASES for m in MODELS]


def train_hp(section):
    """A complete hyperparameter dict: the `cpt` values, overridden by `section`."""
    return {**config["cpt"], **section}


def all_targets():
    return rules.aggregate.output


def demo_base_inputs(wildcards):
    """Packed text and starting point of a demo base: from scratch, or tuned from another."""
    spec = config["bases"][wildcards.base]
    stage = spec["demo"]
    inputs = {
        "tokens": f"{R}/tokens/demo/demo-{stage}.bin",
        "meta": f"{R}/tokens/demo/demo-{stage}.json",
        "tokenizer": tokenizer_dir("demo"),
    }
    if stage == "instruct":
        inputs["model"] = base_model_dir(spec["from"])
    return inputs

