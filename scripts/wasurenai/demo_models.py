"""The embedded demo's own ingredients: a tokenizer and the texts the tiny bases learn from.

* ``train_tokenizer`` — a byte-level BPE (HF ``tokenizers``): every string, Japanese without
  spaces and newlines included, encodes and decodes back byte for byte; no normaliser, and no
  post-processor (packing appends EOS itself). Saved as a ``PreTrainedTokenizerFast`` dir.
* ``build_demo_texts`` — the pretraining mix (monolingual documents plus llm-jp-eval style
  train samples, prompt + answer) and the instruct-tuning mix (the same samples, more copies
  with other few-shot variations).
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Iterable, Iterator

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from wasurenai.common import WorkflowError, atomic_dir, first_log, get_logger, read_texts, write_texts
from wasurenai.llm_jp_eval import build_prompt, dataset_path, load_dataset

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


def dataset_texts(datasets_dir: str | Path) -> Iterator[str]:
    """All text of the train split of an llm-jp-eval dir: each dataset's prompt frame
    (instruction, preamble, headers) and every sample's input and output."""
    paths = sorted(Path(datasets_dir, "train").glob("*.json"))
    if not paths:
        raise WorkflowError(f"{datasets_dir}/train: no llm-jp-eval dataset JSON found")
    for path in paths:
        ds = load_dataset(path)
        yield build_prompt(ds.instruction, [], "")
        for s in ds.samples:
            yield s.input
            yield s.output


def tokenizer_texts(monolingual: str | Path, corpus_tsv: str | Path, datasets_dir: str | Path) -> Iterator[str]:
    """The demo tokenizer's training text: monolingual docs, the corpus, the train splits."""
    yield from read_texts(monolingual)
    yield from tsv_texts(corpus_tsv)
    yield from dataset_texts(datasets_dir)


def main_tokenizer(smk) -> None:
    logger = get_logger("train_tokenizer", first_log(smk))
    texts = tokenizer_texts(smk.input.monolingual, smk.input.corpus, smk.input.datasets)
    tok = train_tokenizer(texts, smk.params.vocab_size, smk.output[0])
    logger.info("byte-level BPE with %d tokens -> %s", len(tok), smk.output[0])


# --- demo texts --------------------------------------------------------------------------

def format_samples(dataset_file: str | Path, num_few_shots: int, copies: int, rng: random.Random) -> list[str]:
    """Every sample of one train-split dataset as an llm-jp-eval prompt + answer, ``copies``
    times, each copy with 0..num_few_shots shots drawn at random from the other samples."""
    ds = load_dataset(dataset_file)
    texts = []
    for _ in range(copies):
        for i, sample in enumerate(ds.samples):
            others = ds.samples[:i] + ds.samples[i + 1:]
            k = rng.randint(0, min(num_few_shots, len(others)))
            shots = rng.sample(others, k)
            texts.append(build_prompt(ds.instruction, shots, sample.input) + sample.output)
    return texts


def build_demo_texts(
    monolingual: str | Path, datasets_dir: str | Path, pretrain_datasets: list[str],
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
            path = dataset_path(datasets_dir, "train", name)
            if not path.is_file():
                raise WorkflowError(f"{path}: not found (dataset {name!r} named in evaluation.categories)")
            texts += format_samples(path, num_few_shots, copies, rng)
    rng.shuffle(pretrain)
    rng.shuffle(instruct)
    return pretrain, instruct


def main_texts(smk) -> None:
    logger = get_logger("demo_texts", first_log(smk))
    pretrain, instruct = build_demo_texts(
        smk.input.monolingual, smk.input.datasets, list(smk.params.pretrain_datasets),
        list(smk.params.instruct_datasets),
        int(smk.params.num_few_shots), int(smk.params.seed),
    )
    write_texts(smk.output.pretrain, pretrain)
    write_texts(smk.output.instruct, instruct)
    logger.info("pretrain: %d documents, instruct: %d documents", len(pretrain), len(instruct))
