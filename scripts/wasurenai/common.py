"""Helpers every stage shares: atomic outputs, JSON, logging, seeding."""
from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterator


class WorkflowError(RuntimeError):
    """A user-facing error: bad input or config. The message names the file/key.

    Not Snakemake's WorkflowError: a Snakefile must never import this name bare (it would
    replace Snakemake's own in the Snakefile's namespace)."""


class ConfigError(WorkflowError):
    """A config that cannot run, found when the DAG is built; the message names the key."""


# Jobs read local directories only: a hub lookup fails at once instead of hanging on a
# compute node without internet. The fetch_base rule is the one job that downloads.
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def offline() -> None:
    """Set OFFLINE_ENV in this process (a job's); call it before transformers, huggingface_hub
    or tokenizers are imported. Values already set (a user's HF_HUB_OFFLINE=0) are kept."""
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)


def skip_unused_imports() -> None:
    """For a job's process that loads models (evaluation, merges, searches), before
    transformers' generation code is imported: tell transformers that scikit-learn is absent,
    so it does not import it (with scipy: 1-1.6 s of an evaluation job, and of every merge,
    as mergekit imports transformers' generation code, on the 2-core bench machine).
    transformers uses it for one thing, assisted decoding's adaptive confidence threshold,
    which greedy generation never runs and mergekit never calls; no score changes (bench/eval
    compares the job's JSON). A no-op once the generation code is imported, or where
    transformers has no such flag."""
    import sys

    if "transformers.generation" in sys.modules:
        return
    from transformers.utils import import_utils

    if hasattr(import_utils, "_sklearn_available"):
        import_utils._sklearn_available = False


def process_seconds() -> float | None:
    """Seconds since this process started (Linux: from /proc, interpreter start and every
    import included); None where /proc is not there."""
    try:
        with open("/proc/self/stat", encoding="ascii") as fh:
            start_ticks = int(fh.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime", encoding="ascii") as fh:
            uptime = float(fh.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))


def exit_now() -> None:
    """End a job's process after its outputs are written: run the atexit handlers, flush
    the log handlers and standard streams, then ``os._exit(0)``, skipping the interpreter's
    teardown (freeing every module's objects: torch alone takes 0.4 s, an evaluation job
    1.4 s on the 2-core bench machine), which no output depends on. Entry scripts only."""
    import atexit

    atexit._run_exitfuncs()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(0)


def clean_text(text) -> str:
    """``text`` as valid Unicode: lone surrogates become U+FFFD, surrogate pairs are joined."""
    return str(text).encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _tmp_sibling(path: Path, is_dir: bool) -> Path:
    """A fresh temporary path beside ``path``, with the permissions a plain create would give."""
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{path.name}.tmp-"
    if is_dir:
        tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=path.parent))
        tmp.chmod(0o777 & ~_umask())
        return tmp
    fd, name = tempfile.mkstemp(prefix=prefix, dir=path.parent)
    os.close(fd)
    os.chmod(name, 0o666 & ~_umask())
    return Path(name)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory beside ``path``; rename it to ``path`` on success.

    On any exception the temporary directory is removed and ``path`` is left as it was,
    so a failed or killed job never leaves a complete-looking output directory.
    """
    path = Path(path)
    tmp = _tmp_sibling(path, is_dir=True)
    try:
        yield tmp
        if path.exists():
            _remove(path)
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary file path beside ``path``; rename it over ``path`` on success."""
    path = Path(path)
    tmp = _tmp_sibling(path, is_dir=False)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs: Any):
    """Open a temporary file for writing; it replaces ``path`` only if the block succeeds."""
    with atomic_path(path) as tmp:
        encoding = None if "b" in mode else kwargs.pop("encoding", "utf-8")
        with open(tmp, mode, encoding=encoding, **kwargs) as fh:
            yield fh


def write_json(path: str | os.PathLike, obj: Any) -> None:
    with atomic_open(path) as fh:
        json.dump(obj, fh, ensure_ascii=False, indent=2, allow_nan=True)
        fh.write("\n")


def read_json(path: str | os.PathLike) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def read_csv(path: str | os.PathLike, required: tuple[str, ...] = (), **kwargs):
    """A CSV as a pandas DataFrame (an empty file: no rows); an unreadable file or a
    missing ``required`` column fails naming the file and the columns."""
    import pandas as pd

    try:
        df = pd.read_csv(path, **kwargs)
    except pd.errors.EmptyDataError:
        df = pd.DataFrame(columns=list(required))
    except (OSError, pd.errors.ParserError) as err:
        raise WorkflowError(f"{path}: not a readable CSV ({err})") from err
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise WorkflowError(f"{path}: missing column(s) {missing}")
    return df


def read_texts(path: str | os.PathLike) -> Iterator[str]:
    """The ``text`` of every line of a text JSONL (``{"text": ...}``); errors name file:line."""
    with open(path, encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                text = json.loads(line)["text"]
            except (json.JSONDecodeError, KeyError, TypeError) as err:
                raise WorkflowError(f"{path}:{line_no}: not a {{\"text\": ...}} JSON line ({err})")
            if not isinstance(text, str):
                raise WorkflowError(f"{path}:{line_no}: \"text\" is not a string")
            yield text


def write_texts(path: str | os.PathLike, texts) -> None:
    """Write a text JSONL atomically, one ``{"text": ...}`` per line."""
    with atomic_open(path) as fh:
        for text in texts:
            fh.write(json.dumps({"text": text}, ensure_ascii=False) + "\n")


def get_logger(name: str, log_path: str | os.PathLike | None = None) -> logging.Logger:
    """A logger writing to stderr and, when given, to the rule's log file."""
    logger = logging.getLogger(name)
    logger.setLevel(logging.INFO)
    logger.handlers.clear()
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w", encoding="utf-8"))
    for handler in handlers:
        handler.setFormatter(fmt)
        logger.addHandler(handler)
    logger.propagate = False
    return logger


def set_seed(seed: int) -> None:
    random.seed(seed)
    try:
        import numpy as np

        np.random.seed(seed % 2**32)
    except ImportError:  # pragma: no cover
        pass
    try:
        import torch

        torch.manual_seed(seed)
    except ImportError:  # pragma: no cover
        pass


def first_log(smk) -> str | None:
    """The first ``log:`` file of a Snakemake job, or None."""
    return str(smk.log[0]) if len(smk.log) else None
