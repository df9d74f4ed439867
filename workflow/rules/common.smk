# Config validation and the path helpers the rules share.
# Directory map, with R = config["results"]
#   R/data/synthetic/       generated demo data (corpus TSV, monolingual text, llm-jp-eval sets)
#   R/corpus/               cleaned, sampled, prompt-formatted text per direction (+ reports)
#   R/tokens/{tokenizer}/   packed token windows
#   R/models/base|cpt|merged/  HF model directories
#   R/eval/{base}/{model}.json ; R/tables/ ; R/figures/ ; R/logs/ ; R/benchmarks/
import functools
import os
import re
from pathlib import Path

from snakemake.utils import validate

validate(config, schema="../schemas/config.schema.yaml")

# The DAG-time checks reuse the library's own validation (light modules only: no torch);
# the library is the installed package `wasurenai` (pyproject.toml; `make` installs it).
from wasurenai.llm_jp_eval import missing_datasets, resolve_categories  # noqa: E402
from wasurenai.common import WorkflowError  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

R = config["results"]
DIRECTIONS = config["directions"]
BASES = list(config["bases"])
NAMED_MERGES = list(config["merges"])  # Table 2's columns
EVAL = config["evaluation"]
COMET_DEMO = EVAL["comet"]["checkpoint"] == "demo"
DEMO_BASES = [b for b, spec in config["bases"].items() if "demo" in spec]
MERGE_ROLES = ["base", *DIRECTIONS]  # the models a merge combines; merges may not reuse these names


def _expand_merges():
    """Named merges plus every sweep's grid points, each validated against mergekit's
    registry now (one import of mergekit), so a bad merge fails before anything runs."""
    from wasurenai.grid import expand, task_vector_methods
    from wasurenai.merge import plan
    from wasurenai.names import check_config_names, check_model_names

    try:
        check_config_names(config)  # base, merge and sweep names: safe in paths and wildcards
        tv_methods = task_vector_methods()
        merges = expand(config["merges"], config.get("sweeps"), DIRECTIONS, tv_methods)
        check_model_names(merges, MERGE_ROLES)
        for name, spec in merges.items():
            where = f"sweeps.{spec['sweep']} (point {name})" if "sweep" in spec else None
            try:
                plan(name, spec, MERGE_ROLES)
            except WorkflowError as err:
                raise WorkflowError(f"{where}: {err}" if where else str(err)) from None
    except WorkflowError as err:
        raise ValueError(f"config key {err}") from None
    return merges


ALL_MERGES = _expand_merges()
IN_MEMORY_SWEEPS = [n for n, s in (config.get("sweeps") or {}).items() if s.get("in_memory")]
MERGES = list(ALL_MERGES)
MODELS = [*MERGE_ROLES, *MERGES]  # every model evaluated per base


# What to fetch by hand for a path that a preset needs and no rule makes.
DOWNLOAD_HINTS = {
    "corpus.path": "download JParaCrawl v3.0 (en-ja.bicleaner05.txt) from "
    "https://www.kecl.ntt.co.jp/icl/lirg/jparacrawl/ and unpack it there",
    "evaluation.dataset_dir": "run llm-jp-eval's `python scripts/preprocess_dataset.py "
    "--dataset-name all --output-dir <dir>` and point this key at the split directory "
    "<dir>/<version>/evaluation/test (few-shot examples are read from its sibling train/)",
    "evaluation.comet.checkpoint": "huggingface-cli download Unbabel/wmt22-comet-da "
    "--local-dir <this path> (COMET also needs xlm-roberta-large in the HF cache: "
    "huggingface-cli download FacebookAI/xlm-roberta-large)",
}


def _missing(key, path):
    return ValueError(f"config key {key}: {path} does not exist; {DOWNLOAD_HINTS[key]}")


def _check_config():
    """Cross-key checks a JSON schema cannot express; errors name the key."""
    if (DEMO_BASES or COMET_DEMO) and not {"synthetic", "demo"} <= set(config):
        raise ValueError("config keys synthetic and demo: needed by demo bases / the demo COMET")
    if DEMO_BASES:  # family and fields, against transformers (torch is loaded by now)
        from wasurenai.families import check_architecture
        try:
            check_architecture(config["demo"]["architecture"])
        except WorkflowError as err:
            raise ValueError(str(err)) from None
    for base, spec in config["bases"].items():
        if ("demo" in spec) == ("path" in spec):
            raise ValueError(f"config key bases.{base}: give exactly one of 'path' or 'demo'")
        if "path" in spec and not Path(spec["path"]).exists() and "hub" not in spec:
            raise ValueError(
                f"config key bases.{base}.path: {spec['path']} does not exist; download the "
                f"model there (huggingface-cli download <hub id> --local-dir {spec['path']}) "
                f"or set bases.{base}.hub so the fetch_base rule downloads it"
            )
        if spec.get("demo") == "instruct" and spec.get("from") not in config["bases"]:
            raise ValueError(f"config key bases.{base}.from: must name another base")
    if config["report"]["table1_merge"] not in NAMED_MERGES:
        raise ValueError("config key report.table1_merge: must name one of the merges")
    if "synthetic" not in config:  # the demo generates these; a preset needs them at hand
        if not Path(config["corpus"]["path"]).is_file():
            raise _missing("corpus.path", config["corpus"]["path"])
        if not Path(EVAL["dataset_dir"]).is_dir():
            raise _missing("evaluation.dataset_dir", EVAL["dataset_dir"])
    for direction in config["corpus"]["templates"]:
        if direction not in DIRECTIONS:
            raise ValueError(f"config key corpus.templates.{direction}: not in directions")
    for direction in DIRECTIONS:
        if direction not in config["corpus"]["templates"]:
            raise ValueError(f"config key corpus.templates: no template for {direction}")
    _check_evaluation()


def _check_evaluation():
    try:
        categories = resolve_categories(EVAL["categories"])
    except WorkflowError as err:
        raise ValueError(str(err)) from None
    if Path(EVAL["dataset_dir"]).is_dir():  # a generated one (the demo's) is checked by its jobs
        names = [d for members in categories.values() for d, _ in members]
        names += [e for e in EVAL["translation"].values() if isinstance(e, str)]
        missing = missing_datasets(EVAL["dataset_dir"], dict.fromkeys(names), EVAL["num_few_shots"])
        if missing:
            raise ValueError(
                "config key evaluation.dataset_dir: datasets of evaluation.categories / "
                "evaluation.translation missing (llm-jp-eval's layout: the split directory "
                "holds <name>.json, few-shot examples come from ../train/<name>.json):\n  "
                + "\n  ".join(missing)
            )
    comet = EVAL["comet"]
    if comet["checkpoint"] is None:
        wanting = [f"{cat} ({d}:{m})" for cat, members in categories.items()
                   for d, m in members if m == "comet_wmt22"]
        if wanting:
            raise ValueError(
                "config key evaluation.comet.checkpoint: COMET is requested by "
                f"evaluation.categories {', '.join(wanting)} but no checkpoint is given; set it "
                "to a local wmt22-comet-da directory, or use a category member without "
                ":comet_wmt22"
            )
    elif not COMET_DEMO and not Path(comet["checkpoint"]).exists():
        raise _missing("evaluation.comet.checkpoint", comet["checkpoint"])
    if "demo" in comet and not COMET_DEMO:
        raise ValueError("config key evaluation.comet.demo: only used with checkpoint: demo")
    for direction, entry in EVAL["translation"].items():
        if direction not in DIRECTIONS:
            raise ValueError(f"config key evaluation.translation.{direction}: not in directions")
        if isinstance(entry, dict):
            for key in ("path", "train"):
                if key in entry and not Path(entry[key]).is_file():
                    raise ValueError(
                        f"config key evaluation.translation.{direction}.{key}: "
                        f"{entry[key]} is not a file"
                    )


_check_config()
# category -> [[dataset, metric or None]]: what the aggregation and its intervals average
CATEGORY_MEMBERS = {c: [list(m) for m in ms] for c, ms in resolve_categories(EVAL["categories"]).items()}
EVAL_DATASETS = list(dict.fromkeys(
    d for members in resolve_categories(EVAL["categories"]).values() for d, _ in members
))


def comet_checkpoint():
    """The COMET checkpoint the evaluations use: None, the demo build, or the configured path."""
    path = EVAL["comet"]["checkpoint"]
    return f"{R}/models/demo/comet" if path == "demo" else path


def evaluation_cfg():
    """config["evaluation"] with the COMET checkpoint resolved to a path."""
    return {**EVAL, "comet": {**EVAL["comet"], "checkpoint": comet_checkpoint()}}


# the synthesize_data rule's datasets, in llm-jp-eval's layout: evaluation/{train,dev,test}
SYNTH_DATASETS = f"{R}/data/synthetic/llm_jp_eval"


def datasets_input():
    """What an evaluation job depends on for its datasets: the synthesize_data output when
    evaluation.dataset_dir is a split directory inside it (the demo), else dataset_dir."""
    path = Path(EVAL["dataset_dir"])
    if "synthetic" in config and Path(SYNTH_DATASETS) in (path, *path.parents):
        return SYNTH_DATASETS
    return EVAL["dataset_dir"]


def evaluate_inputs(wildcards, model=None):
    model = model or wildcards.model
    inputs = {"model": model_dir(wildcards.base, model), "datasets": datasets_input()}
    if comet_checkpoint():
        inputs["comet"] = comet_checkpoint()
    for direction, entry in EVAL["translation"].items():
        if isinstance(entry, dict):
            inputs[f"translation_{direction}"] = entry["path"]
            if "train" in entry:
                inputs[f"translation_{direction}_train"] = entry["train"]
    return inputs


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
    if model not in ALL_MERGES:
        raise ValueError(f"no model {model!r}: not base, a direction, a merge or a grid point")
    return f"{R}/models/merged/{base}/{model}"


@functools.lru_cache(maxsize=None)
def merge_roles(merge):
    """The models a merge reads (its weighted or listed roles, and the base where mergekit
    uses it as base_model). A CPT model a merge does not use is not its input, so
    retraining it leaves the merge be."""
    from wasurenai.merge import roles_used

    return roles_used(merge, ALL_MERGES[merge], MERGE_ROLES)


def eval_runs():
    return [{"base": b, "model": m} for b in BASES for m in MODELS]


def train_hp(section):
    """A complete hyperparameter dict: the `cpt` values, overridden by `section`."""
    return {**config["cpt"], **section}


def all_targets():
    return report_targets()  # workflow/rules/report.smk: the tables, figures and recommendation


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


# --- the report (workflow/rules/report.smk) -------------------------------------------------
from wasurenai.reference import load_reference  # noqa: E402
from wasurenai.tradeoff import metric_column  # noqa: E402

REPORT = config["report"]


def _reference_path(path):
    """report.reference, relative to the working directory or else to the workflow's own
    directory (where configs/reference/paper.yaml ships)."""
    if not path or Path(path).exists() or Path(path).is_absolute():
        return path
    shipped = Path(workflow.basedir) / path
    return str(shipped) if shipped.exists() else path


REFERENCE = _reference_path(REPORT.get("reference"))
TABLES_DIR = f"{R}/tables"
FIGURES_DIR = f"{R}/figures"
SWEEPS = config.get("sweeps") or {}


def _check_report():
    """report.reference and report.budget, checked when the DAG is built; errors name the key."""
    if REFERENCE:
        if not Path(REFERENCE).is_file():
            raise ValueError(f"config key report.reference: {REFERENCE} is not a file")
        try:
            load_reference(REFERENCE)
        except WorkflowError as err:
            raise ValueError(f"config key report.reference: {err}") from None
    categories = list(resolve_categories(EVAL["categories"]))
    try:
        metric_column(REPORT["budget"]["maximise"], categories, DIRECTIONS)
    except WorkflowError as err:
        raise ValueError(str(err)) from None


_check_report()


def tables_report(name, caption):
    return report(f"{TABLES_DIR}/{name}.html", caption=f"../report/{caption}.rst", category="1. Tables")


def reference_outputs():
    """The comparison tables, when a reference is configured."""
    if not REFERENCE:
        return {}
    outputs = {}
    for table in ("table1", "table2"):
        for ext in ("md", "csv", "tex"):
            outputs[f"{table}_ref_{ext}"] = f"{TABLES_DIR}/{table}_vs_reference.{ext}"
        outputs[f"{table}_ref_html"] = tables_report(f"{table}_vs_reference", f"{table}_vs_reference")
    return outputs


def training_runs():
    """Every model whose directory holds a train_log.csv: the CPT runs and the demo bases."""
    runs = [{"base": b, "label": config["bases"][b]["label"], "run": d, "kind": "cpt"}
            for b in BASES for d in DIRECTIONS]
    runs += [{"base": b, "label": config["bases"][b]["label"], "run": config["bases"][b]["demo"],
              "kind": "demo"} for b in DEMO_BASES]
    return runs


def report_targets():
    targets = [*rules.aggregate.output, *rules.plot_tradeoff.output, *rules.plot_retention.output,
               *rules.recommend.output, *rules.plot_training.output]
    if SWEEPS:
        targets += rules.plot_sweeps.output
    return targets
