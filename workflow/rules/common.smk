# The resolved config and the path and input functions the rules share.
# Every check of the config and every default it needs: scripts/wasurenai/config.py.
# Directory map, with RESULTS = config["results"]
#   RESULTS/data/synthetic/       generated demo data (corpus TSV, monolingual text, llm-jp-eval sets)
#   RESULTS/corpus/               cleaned, sampled, prompt-formatted text per direction (+ reports)
#   RESULTS/tokens/{tokenizer}/   packed token windows
#   RESULTS/models/base|cpt|merged/  HF model directories
#   RESULTS/eval/{base}/{model}.json ; RESULTS/tables/ ; RESULTS/figures/ ; RESULTS/logs/ ; RESULTS/benchmarks/
# Names defined here live in the Snakefile's namespace, beside Snakemake's own (WorkflowError,
# rules, config, report, ...): none may reuse one (tests/test_workflow.py checks).
import re
from pathlib import Path

from snakemake.utils import validate

from wasurenai.config import resolve, synthetic_datasets_dir  # the installed library
from wasurenai.search import front_points, parse_point, study_dir

validate(config, schema="../schemas/config.schema.yaml")  # fills the schema's defaults
# This repository's directory, where configs/reference/paper.yaml ships: under `module:`,
# workflow.basedir is the deploying workflow's directory, current_basedir this file's.
WORKFLOW_DIR = Path(workflow.current_basedir.get_path_or_uri()).parents[1]
RESOLVED = resolve(config, WORKFLOW_DIR)  # raises ConfigError naming the key

RESULTS = RESOLVED.results
DIRECTIONS = RESOLVED.directions
BASES = list(RESOLVED.bases)
ALL_MERGES = RESOLVED.merges  # named merges, then every sweep's grid points
EVAL = RESOLVED.evaluation
SYNTH_DATASETS = synthetic_datasets_dir(RESULTS)
TABLES_DIR = f"{RESULTS}/tables"
FIGURES_DIR = f"{RESULTS}/figures"


def evaluate_inputs(wildcards, model=None):
    model = model or wildcards.model
    inputs = {"model": model_dir(wildcards.base, model), "datasets": EVAL.datasets_input}
    if EVAL.comet_checkpoint:
        inputs["comet"] = EVAL.comet_checkpoint
    return {**inputs, **EVAL.translation_files}


def tokenizer_dir(name):
    if name == "demo":
        return f"{RESULTS}/models/demo/tokenizer"
    owners = [b for b, spec in RESOLVED.bases.items() if spec.tokenizer == name and spec.path]
    return base_model_dir(owners[0] if owners else name)


def base_model_dir(base):
    path = RESOLVED.bases[base].path
    return path if path is not None else f"{RESULTS}/models/base/{base}"


def model_dir(base, model):
    """The directory of any evaluated model: the base, a CPT direction, a merge, or a
    search's front point."""
    if model == "base":
        return base_model_dir(base)
    if model in DIRECTIONS:
        return f"{RESULTS}/models/cpt/{base}/{model}"
    point = parse_point(model, RESOLVED.searches)
    if point:
        return f"{RESULTS}/models/search/{base}/{point[0]}/trial{point[1]}"
    if model not in ALL_MERGES:
        raise ValueError(f"no model {model!r}: not base, a direction, a merge, a grid point or a search's point")
    return f"{RESULTS}/models/merged/{base}/{model}"


def merge_roles(merge):
    """The models a merge reads (its weighted or listed roles, and the base where mergekit
    uses it as base_model). A CPT model a merge does not use is not its input, so
    retraining it leaves the merge be."""
    return RESOLVED.merge_roles[merge]


def eval_runs():
    return [{"base": b, "model": m} for b in BASES for m in RESOLVED.models]


def demo_base_inputs(wildcards):
    """Packed text and starting point of a demo base: from scratch, or tuned from another."""
    base = RESOLVED.bases[wildcards.base]
    inputs = {
        "tokens": f"{RESULTS}/tokens/demo/demo-{base.demo}.bin",
        "meta": f"{RESULTS}/tokens/demo/demo-{base.demo}.json",
        "tokenizer": tokenizer_dir("demo"),
    }
    if base.demo == "instruct":
        inputs["model"] = base_model_dir(base.tuned_from)
    return inputs


def all_targets(wildcards):
    """The input function of the default target: called once every rule is defined, so it
    does not matter where that target stands in the Snakefile."""
    return report_targets()  # the tables, figures and recommendation


# --- the report (workflow/rules/report.smk) -------------------------------------------------
REFERENCE = RESOLVED.reference  # report.reference, resolved to a path (or None)


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
    bases = RESOLVED.bases
    runs = [{"base": b, "label": bases[b].label, "run": d, "kind": "cpt"} for b in BASES for d in DIRECTIONS]
    runs += [{"base": b, "label": bases[b].label, "run": bases[b].demo, "kind": "demo"} for b in RESOLVED.demo_bases]
    return runs


def report_targets():
    targets = [
        *rules.aggregate.output,
        *rules.plot_tradeoff.output,
        *rules.plot_retention.output,
        *rules.recommend.output,
        *rules.plot_training.output,
    ]
    if RESOLVED.sweeps:
        targets += rules.plot_sweeps.output
    searches = list(RESOLVED.searches)
    # every base's front is a target of its own: search_report's input function meets the
    # checkpoints one at a time, and would run the bases' searches one after another
    targets += expand(rules.search_front.output.front, base=BASES, search=searches)
    targets += expand(rules.search_report.output, search=searches)
    return targets


# --- searches (workflow/rules/search.smk) ---------------------------------------------------
def search_worker_inputs(wildcards):
    """The evaluation's dataset inputs, and the models of the roles the search reads."""
    inputs = {k: v for k, v in evaluate_inputs(wildcards, "base").items() if k != "model"}
    return {**inputs, **{role: model_dir(wildcards.base, role) for role in RESOLVED.search_roles[wildcards.search]}}


def search_fronts():
    """Every (base, search) whose front points join the evaluated models, in one order."""
    return [{"base": b, "search": s} for b in BASES for s in RESOLVED.searches]


def front_files():
    return [f"{RESULTS}/search/{f['base']}/{f['search']}/front.json" for f in search_fronts()]


def run_evals():
    """The evaluation JSONs of the configured runs (eval_runs), in that order."""
    return [f"{RESULTS}/eval/{run['base']}/{run['model']}.json" for run in eval_runs()]


def point_evals(wildcards):
    """Every search front point's evaluation (once the search_front checkpoints have run),
    in the order jobs.front_runs reads them: an input of its own, so that the configured
    runs' evaluations are in the DAG before the checkpoints have run."""
    evals = []
    for f in search_fronts():
        front = checkpoints.search_front.get(**f).output.front
        evals += [f"{RESULTS}/eval/{f['base']}/{point}.json" for point in front_points(front)]
    return evals


def search_worker_outputs(base, search):
    workers = RESOLVED.searches[search]["workers"]
    return [f"{RESULTS}/search/{base}/{search}/worker{i}.json" for i in range(workers)]


def search_report_inputs(wildcards):
    """Per base, the search's front and trials; scores.csv for every model (the front's
    points included: rule aggregate waits for the checkpoints)."""
    inputs = {"scores": f"{TABLES_DIR}/scores.csv"}
    for i, base in enumerate(BASES):
        inputs[f"front_{i}"] = f"{RESULTS}/search/{base}/{wildcards.search}/front.json"
        inputs[f"trials_{i}"] = f"{RESULTS}/search/{base}/{wildcards.search}/trials.csv"
    return inputs


def search_dev_comparable(search):
    """Whether every evaluation scored the dev samples a trial scores (the same dev split
    and max_samples): then search_report compares the grid with the trials on dev."""
    spec = RESOLVED.searches[search]
    trial = spec.get("max_samples")
    trial = EVAL.section["max_samples"] if trial is None else trial
    return bool(EVAL.dev) and EVAL.dev["max_samples"] == trial
