"""The embedded demo's own ingredients: a tokenizer and the texts the tiny bases learn from.

* ``train_tokenizer`` — a byte-level BPE (HF ``tokenizers``): every string, Japanese without
  spaces and newlines included, encodes and decodes back byte for byte; no normaliser, and no
  post-processor (packing appends EOS itself). Saved as a ``PreTrainedTokenizerFast`` dir.
* ``build_demo_texts`` — the pretraining mix (monolingual documents plus llm-jp-eval style
  train samples, prompt + answer) and the instruct-tuning mix (the same samples, more copies
  with other few-shot variations). The answer is the sample's ``output``, or its ``solution``
  field where it has one (the synthetic CG set: the output lists the tests, the solution is
  the code that passes them).

Both read one train-split directory of llm-jp-eval's layout (``…/evaluation/train``).
"""
from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Iterable, Iterator

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from wasurenai.common import WorkflowError, atomic_dir, get_logger, read_texts, write_texts
from wasurenai.jobs import DemoTextsJob, DemoTokenizerJob
from wasurenai.llm_jp_eval import Dataset, build_prompt, dataset_path, load_dataset
from wasurenai.synthetic import SOLUTION_FIELD

SPECIAL_TOKENS = {"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}


# --- tokenizer ---------------------------------------------------------------------------

def train_tokenizer(texts: Iterable[str], vocab_size: int, out_dir: str | Path) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE of ``vocab_size`` tokens (specials included) on ``texts`` and
    save it atomically to ``out_dir`` as a transformers tokenizer dir (eos ``</s>``, pad
    ``<pad>``). Deterministic for the same texts."""
    specials = list(SPECIAL_TOKENS.values())
    if int(vocab_size) < 256 + len(specials):
        raise WorkflowError(
            f"config key demo.tokenizer.vocab_size: {vocab_size} is below the 256 bytes "
            f"+ {len(specials)} special tokens a byte-level BPE needs"
        )
    tok = Tokenizer(models.BPE(unk_token=SPECIAL_TOKENS["unk_token"]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=int(vocab_size), special_tokens=specials, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(texts, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, clean_up_tokenization_spaces=False, **SPECIAL_TOKENS,
    )
    with atomic_dir(out_dir) as tmp:
        fast.save_pretrained(tmp)
    return fast


def tsv_texts(path: str | Path) -> Iterator[str]:
    """English and Japanese sides (columns 4 and 5) of the well-formed lines of a JParaCrawl
    TSV, streamed; lines that are not UTF-8 or lack 5 columns are skipped."""
    with open(path, "rb") as fh:
        for raw in fh:
            try:
                cols = raw.decode("utf-8").rstrip("\r\n").split("\t")
            except UnicodeDecodeError:
                continue
            if len(cols) == 5:
                yield from (c for c in cols[3:5] if c.strip())


def load_train_set(path: str | Path) -> tuple[Dataset, list[str | None]]:
    """A train-split dataset and, per sample, its ``solution`` field (None where absent);
    a solution that is not a string fails naming the file and the sample."""
    ds = load_dataset(path)
    raw = json.loads(Path(path).read_text(encoding="utf-8"))["samples"]
    solutions = [s.get(SOLUTION_FIELD) for s in raw]
    for i, solution in enumerate(solutions):
        if solution is not None and not isinstance(solution, str):
            raise WorkflowError(f"{path}: samples[{i}].{SOLUTION_FIELD} must be a string")
    return ds, solutions


def dataset_texts(train_dir: str | Path) -> Iterator[str]:
    """All text of one llm-jp-eval train-split dir: each dataset's prompt frame (instruction,
    preamble, headers) and every sample's input, output and solution."""
    paths = sorted(Path(train_dir).glob("*.json"))
    if not paths:
        raise WorkflowError(f"{train_dir}: no llm-jp-eval dataset JSON found")
    for path in paths:
        ds, solutions = load_train_set(path)
        yield build_prompt(ds.instruction, [], "")
        for s, solution in zip(ds.samples, solutions):
            yield s.input
            yield s.output
            if solution is not None:
                yield solution


def tokenizer_texts(monolingual: str | Path, corpus_tsv: str | Path, train_dir: str | Path) -> Iterator[str]:
    """The demo tokenizer's training text: monolingual docs, the corpus, the train splits."""
    yield from read_texts(monolingual)
    yield from tsv_texts(corpus_tsv)
    yield from dataset_texts(train_dir)


def main_tokenizer(job: DemoTokenizerJob) -> None:
    logger = get_logger("train_tokenizer", job.log)
    texts = tokenizer_texts(job.monolingual, job.corpus, job.train_dir)
    tok = train_tokenizer(texts, job.vocab_size, job.out_dir)
    logger.info("byte-level BPE with %d tokens -> %s", len(tok), job.out_dir)


# --- demo texts --------------------------------------------------------------------------

def format_samples(dataset_file: str | Path, num_few_shots: int, copies: int, rng: random.Random) -> list[str]:
    """Every sample of one train-split dataset as an llm-jp-eval prompt + answer, ``copies``
    times, each copy with 0..num_few_shots shots drawn at random from the other samples. The
    shots show their ``output`` as the evaluation prompt does; the answer is the sample's
    ``solution`` where it has one, else its ``output``."""
    ds, solutions = load_train_set(dataset_file)
    texts = []
    for _ in range(copies):
        for i, sample in enumerate(ds.samples):
            others = ds.samples[:i] + ds.samples[i + 1:]
            k = rng.randint(0, min(num_few_shots, len(others)))
            shots = rng.sample(others, k)
            answer = sample.output if solutions[i] is None else solutions[i]
            texts.append(build_prompt(ds.instruction, shots, sample.input) + answer)
    return texts


def build_demo_texts(
    monolingual: str | Path, train_dir: str | Path, pretrain_datasets: list[str],
    instruct_datasets: list[str], num_few_shots: int, seed: int, instruct_copies: int = 3,
) -> tuple[list[str], list[str]]:
    """(pretrain, instruct) documents, each list shuffled with ``seed``.

    pretrain = the monolingual docs + one formatted copy of every train sample of
    ``pretrain_datasets``; instruct = ``instruct_copies`` formatted copies of the train
    samples of ``instruct_datasets``."""
    rng = random.Random(seed)
    pretrain = list(read_texts(monolingual))
    instruct: list[str] = []
    for names, texts, copies in ((pretrain_datasets, pretrain, 1),
                                 (instruct_datasets, instruct, instruct_copies)):
        for name in names:
            path = dataset_path(train_dir, name)
            if not path.is_file():
                raise WorkflowError(f"{path}: not found (dataset {name!r} named in evaluation.categories)")
            texts += format_samples(path, num_few_shots, copies, rng)
    rng.shuffle(pretrain)
    rng.shuffle(instruct)
    return pretrain, instruct


def main_texts(job: DemoTextsJob) -> None:
    logger = get_logger("demo_texts", job.log)
    pretrain, instruct = build_demo_texts(
        job.monolingual, job.train_dir, job.pretrain_datasets, job.instruct_datasets,
        job.num_few_shots, job.seed,
    )
    write_texts(job.pretrain, pretrain)
    write_texts(job.instruct, instruct)
    logger.info("pretrain: %d documents, instruct: %d documents", len(pretrain), len(instruct))
