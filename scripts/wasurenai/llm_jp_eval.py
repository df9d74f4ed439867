"""llm-jp-eval's preprocessed dataset format and its prompt template.

llm-jp-eval's ``preprocess_dataset.py`` writes ``<out>/<version>/evaluation/{train,dev,test}/``
with one JSON per dataset: the fields ``instruction``, ``output_length``, ``metrics``,
``few_shots`` and ``samples`` (a list of ``{input, output}``). Its ``dataset_dir`` is one of
those split directories (``…/evaluation/test``); few-shot examples are the first N samples of
the same dataset in the sibling ``../train`` directory, and fewer than N is an error.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .common import WorkflowError

# The reason an evaluation JSON records for a category that has no score and counts 0.0 in
# AVG, as llm-jp-eval's post_process_score_results counts it (evaluation.avg_over: all).
ZEROED = "scored 0.0 as llm-jp-eval does (no member has a score)"

PREAMBLE = (
    "以下は、タスクを説明する指示と、文脈のある入力の組み合わせです。"
    "要求を適切に満たす応答を書きなさい。"
)


@dataclass(frozen=True)
class Sample:
    input: str
    output: str


@dataclass(frozen=True)
class Dataset:
    name: str
    instruction: str
    output_length: int
    metrics: list[str]
    samples: list[Sample]
    path: str


def _require(cond: bool, path: Path, field: str, what: str) -> None:
    if not cond:
        raise WorkflowError(f"{path}: not llm-jp-eval JSON: field '{field}' {what}")


def load_dataset(path: str | Path) -> Dataset:
    """Read and validate one llm-jp-eval dataset JSON; errors name the file and field."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise WorkflowError(f"{path}: not llm-jp-eval JSON: {err}") from err
    _require(isinstance(data, dict), path, "<top level>", "must be an object")
    _require(isinstance(data.get("instruction"), str), path, "instruction", "must be a string")
    _require(
        isinstance(data.get("output_length"), int) and data["output_length"] > 0,
        path, "output_length", "must be a positive integer",
    )
    metrics = data.get("metrics")
    _require(
        isinstance(metrics, list) and metrics and all(isinstance(m, str) for m in metrics),
        path, "metrics", "must be a non-empty list of metric names",
    )
    samples = data.get("samples")
    _require(isinstance(samples, list), path, "samples", "must be a list")
    parsed = []
    for i, s in enumerate(samples):
        ok = isinstance(s, dict) and isinstance(s.get("input"), str) and isinstance(s.get("output"), str)
        _require(ok, path, f"samples[{i}]", "must be an object with string 'input' and 'output'")
        parsed.append(Sample(s["input"], s["output"]))
    return Dataset(
        name=path.stem,
        instruction=data["instruction"],
        output_length=data["output_length"],
        metrics=list(metrics),
        samples=parsed,
        path=str(path),
    )


def dataset_path(dataset_dir: str | Path, name: str) -> Path:
    """``{dataset_dir}/{name}.json``: ``dataset_dir`` is a split directory (``…/test``)."""
    return Path(dataset_dir) / f"{name}.json"


def train_path(dataset_dir: str | Path, name: str) -> Path:
    """The dataset's few-shot source: ``{dataset_dir}/../train/{name}.json``, as llm-jp-eval's
    ``get_few_shot_samples`` (the split directory's sibling ``train``)."""
    return Path(dataset_dir).resolve().parent / "train" / f"{name}.json"


def few_shots(dataset_dir: str | Path, name: str, n: int,
              key: str = "evaluation.num_few_shots") -> list[Sample]:
    """The first ``n`` samples of the dataset's train split; fewer than ``n`` fails, as in
    llm-jp-eval (which asserts it)."""
    if n <= 0:
        return []
    path = train_path(dataset_dir, name)
    if not path.is_file():
        raise WorkflowError(f"{path}: missing; config {key} = {n} takes few-shot examples "
                            f"from the train split beside {dataset_dir}")
    samples = load_dataset(path).samples
    if len(samples) < n:
        raise WorkflowError(f"{path}: dataset {name} has {len(samples)} train samples, fewer "
                            f"than config {key} = {n}")
    return samples[:n]


def missing_datasets(dataset_dir: str | Path, names, num_few_shots: int) -> list[str]:
    """One line per dataset file that is absent: ``{dataset_dir}/<name>.json``, and the train
    split's when few-shots are asked for — everything an evaluation of ``names`` reads."""
    lines = []
    for name in names:
        needed = [dataset_path(dataset_dir, name)]
        if num_few_shots > 0:
            needed.append(train_path(dataset_dir, name))
        lines += [f"{path} (dataset {name})" for path in needed if not path.is_file()]
    return lines


def build_prompt(instruction: str, shots: list[Sample], input_text: str) -> str:
    """llm-jp-eval's evaluation prompt, byte for byte (no system-prompt customisation)."""
    text = f"{PREAMBLE}\n\n### 指示:\n{instruction}"
    for shot in shots:
        text += f"\n\n### 入力:\n{shot.input}\n\n### 応答:\n{shot.output}"
    return text + f"\n\n### 入力:\n{input_text}\n\n### 応答:\n"


# llm-jp-eval's category maps: category -> "dataset:metric" (llm-jp-eval keys them
# f"{dataset}_{metric}"; a colon is unambiguous, names contain "_" and "-"). Each preset is
# named after the release whose map it copies.
#
# v1.3.0: post_process_score_results in src/llm_jp_eval/utils.py of llm-jp-eval v1.3.0 (read
# in the copy vendored by swallow-llm/swallow-evaluation, commit 78de0db "add: update
# llm-jp-eval to v1.3.0"): nine categories, no CG; HE's English set is named "mmluen" there.
_V130 = {
    "NLI": ["jamp:exact_match", "janli:exact_match", "jnli:exact_match", "jsem:exact_match",
            "jsick:exact_match"],
    "QA": ["jemhopqa:char_f1", "niilc:char_f1"],
    "RC": ["jsquad:char_f1"],
    "MC": ["jcommonsenseqa:exact_match"],
    "HE": ["mmluen:exact_match", "jmmlu:exact_match"],
    "EL": ["chabsa:set_f1"],
    "FA": ["wiki_reading:char_f1", "wiki_ner:set_f1", "wiki_dependency:set_f1",
           "wiki_pas:set_f1", "wiki_coreference:set_f1"],
    "MR": ["mawps:exact_match"],
    "MT": ["alt-e-to-j:comet_wmt22", "alt-j-to-e:comet_wmt22",
           "wikicorpus-e-to-j:comet_wmt22", "wikicorpus-j-to-e:comet_wmt22"],
}
# v1.4.1: the datasets and metrics counted in AVG (marked with a star) by the Open Japanese
# LLM Leaderboard (llm-jp/open-japanese-llm-leaderboard, src/about.py), which runs llm-jp-eval
# v1.4.1; CG there is mbpp:code_exec with 0 shots only. SUM (XL-Sum, CC BY-NC-SA) is only
# evaluated there on explicit agreement.
_V141 = {
    "NLI": _V130["NLI"],
    "QA": ["jemhopqa:char_f1", "niilc:char_f1", "aio:char_f1"],
    "RC": _V130["RC"],
    "MC": ["jcommonsenseqa:exact_match", "commonsensemoralja:exact_match", "kuci:exact_match"],
    "EL": _V130["EL"],
    "FA": _V130["FA"],
    "MR": _V130["MR"],
    "MT": _V130["MT"],
    "HE": ["mmlu_en:exact_match", "jmmlu:exact_match"],
    "CG": ["mbpp:code_exec"],
    "SUM": ["xlsum_ja:rouge2"],
}
CATEGORY_PRESETS = {
    "v1.3.0": _V130,
    "v1.4.1": _V141,
    # paper: the ten categories the paper lists (NLI, QA, RC, MC, EL, FA, MR, MT, HE, CG):
    # v1.3.0's nine with v1.3.0's datasets, plus CG as mbpp:code_exec (the first release
    # with mbpp; which exact release the paper ran is not stated).
    "paper": {**_V130, "CG": ["mbpp:code_exec"]},
}


def parse_member(member: str, key: str = "evaluation.categories") -> tuple[str, str | None]:
    """'dataset' -> (dataset, None) (its first metric); 'dataset:metric' -> (dataset, metric)."""
    if not isinstance(member, str) or not member.strip():
        raise WorkflowError(f"config {key}: member {member!r} is not a dataset name")
    dataset, sep, metric = member.partition(":")
    if not dataset or (sep and not metric) or ":" in metric:
        raise WorkflowError(f"config {key}: member {member!r}: use 'dataset' or 'dataset:metric'")
    return dataset, (metric or None)


def resolve_categories(spec) -> dict[str, list[tuple[str, str | None]]]:
    """Category -> [(dataset, metric or None)] from a preset name or a mapping."""
    if isinstance(spec, str):
        if spec not in CATEGORY_PRESETS:
            raise WorkflowError(
                f"config evaluation.categories: unknown preset {spec!r}; "
                f"known: {sorted(CATEGORY_PRESETS)}"
            )
        spec = CATEGORY_PRESETS[spec]
    if not isinstance(spec, dict) or not spec:
        raise WorkflowError("config evaluation.categories: a preset name or a non-empty mapping")
    out = {}
    for cat, members in spec.items():
        if not isinstance(members, list) or not members:
            raise WorkflowError(f"config evaluation.categories.{cat}: a non-empty list of datasets")
        out[cat] = [parse_member(m, f"evaluation.categories.{cat}") for m in members]
    return out
