"""COMET (unbabel-comet 2.2.x) for the evaluation: load a checkpoint once per job and score
translations. Building the demo's tiny COMET is another stage: ``demo_comet``.

Scoring (``load_comet`` + ``comet_score``) uses comet's own ``load_from_checkpoint`` and
``model.predict`` — the same code path ``comet-score`` runs with Unbabel/wmt22-comet-da. The
system score is comet's: the plain mean of the segment scores. One deliberate addition:

* every text is made valid Unicode first (lone surrogates → U+FFFD): the Rust tokenizer
  cannot take them, and comet would crash on one bad line.

An empty prediction is scored by the model like any other, as llm-jp-eval v1.3 does.

A checkpoint is a ``model.ckpt`` file or a snapshot directory
(``<dir>/checkpoints/model.ckpt`` with ``<dir>/hparams.yaml`` beside ``checkpoints/``, as
``huggingface-cli download`` leaves it). A snapshot that carries its own ``encoder/`` (the
demo's, ``demo_comet``) is loaded with that encoder, so a moved or copied directory still
loads.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import statistics
import warnings
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Sequence

from .common import WorkflowError, clean_text

CONFIG_KEY = "evaluation.comet.checkpoint"
CKPT_NAME = "model.ckpt"


# --- checkpoint paths --------------------------------------------------------------------

def resolve_comet_checkpoint(path: str | os.PathLike) -> Path:
    """The ``model.ckpt`` for ``path``: that file, or ``<dir>/checkpoints/model.ckpt``."""
    if path is None or str(path) == "":
        raise WorkflowError(f"config key {CONFIG_KEY}: no COMET checkpoint given")
    p = Path(path).expanduser()
    if p.is_file():
        return p.resolve()
    if p.is_dir():
        ckpt = p / "checkpoints" / CKPT_NAME
        if ckpt.is_file():
            return ckpt.resolve()
        raise WorkflowError(
            f"config key {CONFIG_KEY}: {p} is a directory without checkpoints/{CKPT_NAME} "
            "(expected a Unbabel/wmt22-comet-da snapshot or a model.ckpt file)"
        )
    raise WorkflowError(f"config key {CONFIG_KEY}: {p} does not exist")


def _snapshot_dir(ckpt: Path) -> Path:
    """Where comet looks for hparams.yaml: the parent of the checkpoint's folder."""
    return ckpt.parents[1] if len(ckpt.parents) > 1 else ckpt.parent


def _bundled_encoder(ckpt: Path) -> Path | None:
    enc = _snapshot_dir(ckpt) / "encoder"
    return enc if (enc / "config.json").is_file() else None


@contextlib.contextmanager
def quiet():
    """Silence Lightning's banner (GPU available / LOCAL_RANK ...) and known noise."""
    names = ("pytorch_lightning", "lightning.pytorch", "lightning_fabric", "lightning.fabric",
             "comet", "transformers.modeling_utils")
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            for pattern in (
                ".*pkg_resources.*",  # torchmetrics 0.10 / comet import it
                ".*num_workers.*", ".*does not have many workers.*",  # we want 0 workers
                ".*`srun` command is available.*",  # Lightning, inside or beside Slurm
                ".*LeafSpec.*",  # Lightning 2.6 vs torch 2.13 deprecation
                ".*Tensor Cores.*",
            ):
                warnings.filterwarnings("ignore", message=pattern)
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


# --- load and score ----------------------------------------------------------------------

def load_comet(path: str | os.PathLike, local_files_only: bool = True):
    """Load a COMET model (once per job) from a ``model.ckpt`` or a snapshot directory.

    ``local_files_only``: the encoder's tokenizer/config named in the checkpoint's hparams
    (e.g. ``xlm-roberta-large`` for wmt22-comet-da) must already be in the HF cache — an
    evaluation job never downloads. Checkpoints built by ``demo_comet`` carry
    their own ``encoder/`` and load strictly (every tensor must match).
    """
    ckpt = resolve_comet_checkpoint(path)
    hparams_file = _snapshot_dir(ckpt) / "hparams.yaml"
    if not hparams_file.is_file():
        raise WorkflowError(f"config key {CONFIG_KEY}: {hparams_file} is missing "
                            f"(comet needs it beside checkpoints/{CKPT_NAME})")
    import torch
    import yaml

    with quiet():
        import comet
        from comet.models import str2model

        try:
            bundled = _bundled_encoder(ckpt)
            if bundled is not None:
                hparams = yaml.safe_load(hparams_file.read_text(encoding="utf-8")) or {}
                cls = str2model[hparams["class_identifier"]]
                model = cls.load_from_checkpoint(
                    ckpt, map_location=torch.device("cpu"), strict=True,
                    load_pretrained_weights=False, local_files_only=True,
                    pretrained_model=str(bundled),
                )
            else:
                model = comet.load_from_checkpoint(str(ckpt), local_files_only=local_files_only)
        except WorkflowError:
            raise
        except Exception as err:  # noqa: BLE001 - any load failure is a config problem here
            raise WorkflowError(
                f"config key {CONFIG_KEY}: cannot load COMET from {ckpt}: {err} (the encoder "
                "its hparams name must be available offline, e.g. in the HF cache)"
            ) from err
    model.eval()
    return model


def comet_score(model, sources: Sequence[str], predictions: Sequence[str],
                references: Sequence[str], batch_size: int = 16,
                gpus: int | None = None) -> tuple[list[float], float]:
    """(segment scores, system score) from comet's ``model.predict``.

    ``gpus``: None = 1 when CUDA is available, else 0 (CPU). Always single-process (no
    dataloader workers), no progress bar. Every prediction is scored by the model, an empty
    one too (as llm-jp-eval does). The system score is comet's definition, the mean of the segment scores.
    """
    n = len(predictions)
    if not (len(sources) == n == len(references)):
        raise ValueError(f"{len(sources)} sources, {n} predictions, {len(references)} references")
    if not n:
        raise ValueError("no predictions to score")
    import torch

    if gpus is None:
        gpus = 1 if torch.cuda.is_available() else 0
    samples = [
        {"src": clean_text(s), "mt": clean_text(p), "ref": clean_text(r)}
        for s, p, r in zip(sources, predictions, references)
    ]
    with quiet():
        out = model.predict(
            samples, batch_size=int(batch_size), gpus=int(gpus), progress_bar=False,
            accelerator="cuda" if gpus else "cpu", num_workers=0, length_batching=True,
        )
    scores = [float(x) for x in out["scores"]]
    return scores, statistics.fmean(scores)


@lru_cache(maxsize=8)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def comet_version(model, path: str | os.PathLike) -> dict:
    """What scored: unbabel-comet's version, the checkpoint file and its sha256."""
    ckpt = resolve_comet_checkpoint(path)
    st = ckpt.stat()
    hp = getattr(model, "hparams", {}) or {}
    return {
        "version": metadata.version("unbabel-comet"),
        "checkpoint": str(ckpt),
        "sha256": _sha256(str(ckpt), st.st_size, st.st_mtime_ns),
        "class": hp.get("class_identifier"),
        "encoder": hp.get("pretrained_model"),
    }
