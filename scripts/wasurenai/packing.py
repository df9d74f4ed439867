"""Text JSONL -> token ids packed into fixed windows, in a flat little-endian binary.

Documents are encoded in batches with ``tokenizers`` (no special tokens from the
post-processor), each followed by the tokenizer's EOS id, and the stream is cut into
windows of ``window`` tokens: a document may span two windows; the last partial window is
dropped. Memory stays at one batch plus one window, whatever the corpus size.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import numpy as np
from tokenizers import Tokenizer

if TYPE_CHECKING:
    from wasurenai.jobs import TokenizeJob

from wasurenai.common import (
    WorkflowError, atomic_open, get_logger, read_json, read_texts, write_json,
)

BATCH_SIZE = 1024  # documents per encode_batch call


def read_eos(tokenizer_dir: str | Path) -> str:
    """The EOS token string from an HF tokenizer dir (tokenizer_config.json, then
    special_tokens_map.json)."""
    tokenizer_dir = Path(tokenizer_dir)
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        path = tokenizer_dir / name
        if path.is_file():
            eos = read_json(path).get("eos_token")
            if isinstance(eos, dict):  # serialised AddedToken
                eos = eos.get("content")
            if isinstance(eos, str) and eos:
                return eos
    raise WorkflowError(
        f"{tokenizer_dir}: no eos_token in tokenizer_config.json or special_tokens_map.json"
    )


def load_tokenizer(tokenizer_dir: str | Path) -> tuple[Tokenizer, int]:
    """The fast tokenizer of an HF tokenizer dir and its EOS id."""
    path = Path(tokenizer_dir) / "tokenizer.json"
    if not path.is_file():
        raise WorkflowError(f"{path}: not found (need an HF fast-tokenizer directory)")
    tokenizer = Tokenizer.from_file(str(path))
    eos = read_eos(tokenizer_dir)
    eos_id = tokenizer.token_to_id(eos)
    if eos_id is None:
        raise WorkflowError(f"{path}: the eos_token {eos!r} is not in the vocabulary")
    return tokenizer, eos_id


def token_dtype(vocab_size: int) -> np.dtype:
    """uint16 when every id fits, else uint32; always little-endian."""
    return np.dtype("<u2") if vocab_size <= 2**16 else np.dtype("<u4")


def iter_text_batches(path: str | Path, batch_size: int = BATCH_SIZE) -> Iterator[list[str]]:
    """The texts of a text JSONL in lists of ``batch_size`` (streamed, never all in memory)."""
    batch: list[str] = []
    for text in read_texts(path):
        batch.append(text)
        if len(batch) == batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def pack_tokens(
    text: str | Path, tokenizer_dir: str | Path, bin_out: str | Path, meta_out: str | Path,
    window: int, batch_size: int = BATCH_SIZE, logger=None,
) -> dict:
    """Tokenize ``text`` (JSONL) and write packed windows to ``bin_out`` and meta to ``meta_out``.

    Returns the meta dict. Raises WorkflowError if the text makes not even one window.
    """
    if int(window) < 1:
        raise WorkflowError(f"config key tokenize.window: must be >= 1, got {window}")
    window = int(window)
    tokenizer, eos_id = load_tokenizer(tokenizer_dir)
    vocab_size = tokenizer.get_vocab_size(with_added_tokens=True)
    dtype = token_dtype(vocab_size)
    carry = np.empty(0, dtype=dtype)  # tokens not yet in a full window (< window of them)
    n_documents = n_windows = 0
    with atomic_open(bin_out, "wb") as fh:
        for texts in iter_text_batches(text, batch_size):
            ids: list[int] = []
            for encoding in tokenizer.encode_batch(texts, add_special_tokens=False):
                ids.extend(encoding.ids)
                ids.append(eos_id)
            n_documents += len(texts)
            stream = np.concatenate([carry, np.array(ids, dtype=dtype)])
            full = len(stream) // window * window
            stream[:full].tofile(fh)
            n_windows += full // window
            carry = stream[full:].copy()
        if n_windows == 0:
            raise WorkflowError(
                f"{text}: {n_documents} documents give {len(carry)} tokens, "
                f"fewer than one window of {window} (tokenize.window)"
            )
        meta = {
            "dtype": dtype.name,
            "byteorder": "little",
            "window": window,
            "n_windows": n_windows,
            "n_tokens": n_windows * window,
            "n_documents": n_documents,
            "dropped_tail_tokens": int(len(carry)),
            "eos_id": eos_id,
            "vocab_size": vocab_size,
            "source": str(text),
            "tokenizer": str(tokenizer_dir),
        }
        write_json(meta_out, meta)
    if logger:
        logger.info("%s: %d documents -> %d windows of %d tokens (%s), %d tail tokens dropped",
                    text, n_documents, n_windows, window, dtype.name, len(carry))
    return meta


def load_packed(bin_path: str | Path, meta_path: str | Path) -> np.memmap:
    """The packed windows as a read-only memmap of shape (n_windows, window)."""
    meta = read_json(meta_path)
    dtype = np.dtype(meta["dtype"]).newbyteorder("<")
    shape = (int(meta["n_windows"]), int(meta["window"]))
    expected = shape[0] * shape[1] * dtype.itemsize
    size = Path(bin_path).stat().st_size
    if size != expected:
        raise WorkflowError(
            f"{bin_path}: {size} bytes, but {meta_path} describes {shape} {meta['dtype']} "
            f"({expected} bytes)"
        )
    return np.memmap(bin_path, dtype=dtype, mode="r", shape=shape)


def main(job: TokenizeJob) -> None:
    logger = get_logger("tokenize", job.log)
    pack_tokens(job.text, job.tokenizer, job.bin, job.meta, job.window, logger=logger)
