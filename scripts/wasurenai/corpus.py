"""Parallel corpus (JParaCrawl v3 TSV) -> cleaned, sampled, prompt-formatted text per direction.

The TSV is streamed as bytes, one line at a time, so memory does not grow with the file:
what is kept in memory is the reservoir (``pairs_per_direction`` pairs) and one 8-byte digest
per distinct pair for de-duplication (~70 bytes each in a Python set).
"""
from __future__ import annotations

import hashlib
import json
import math
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, TypeVar

from wasurenai.common import WorkflowError, atomic_open, first_log, get_logger, write_json

# Why a line is dropped, in the order the checks run.
DROP_REASONS = (
    "invalid_utf8", "columns", "empty", "bad_score", "low_score", "too_long", "duplicate",
)
N_COLUMNS = 5  # domain_en, domain_ja, score, english, japanese
CFG_KEYS = ("pairs_per_direction", "min_pairs", "max_chars", "min_score", "seed", "templates")
_PLACEHOLDER = re.compile(r"\{(ja|en)\}")

T = TypeVar("T")


@dataclass
class CleanStats:
    """Counts of one pass over the TSV: lines read, pairs kept, drops by reason."""

    lines: int = 0
    kept: int = 0
    dropped: Counter = field(default_factory=Counter)
    first_dropped_line: dict = field(default_factory=dict)  # reason -> 1-based line number

    def drop(self, reason: str, line_no: int) -> None:
        self.dropped[reason] += 1
        self.first_dropped_line.setdefault(reason, line_no)


def _normalise(text: str) -> str:
    return " ".join(text.split())


def iter_clean_pairs(
    path: str | Path, *, max_chars: int, min_score: float, stats: CleanStats
) -> Iterator[tuple[str, str]]:
    """Yield the (english, japanese) pairs of a JParaCrawl v3 TSV that pass every check.

    Drops (and counts in ``stats``) lines that are not valid UTF-8, do not have 5 columns,
    have an empty side, a score that is not a finite number or below ``min_score``, a side
    longer than ``max_chars`` characters, or repeat an earlier pair (after whitespace
    normalisation). Sides are yielded stripped.
    """
    seen: set[int] = set()
    with open(path, "rb") as fh:
        for line_no, raw in enumerate(fh, start=1):
            stats.lines += 1
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError:
                stats.drop("invalid_utf8", line_no)
                continue
            columns = line.split("\t")
            if len(columns) != N_COLUMNS:
                stats.drop("columns", line_no)
                continue
            score_text, en, ja = columns[2], columns[3].strip(), columns[4].strip()
            if not en or not ja:
                stats.drop("empty", line_no)
                continue
            try:
                score = float(score_text)
            except ValueError:
                score = math.nan
            if not math.isfinite(score):
                stats.drop("bad_score", line_no)
                continue
            if score < min_score:
                stats.drop("low_score", line_no)
                continue
            if len(en) > max_chars or len(ja) > max_chars:
                stats.drop("too_long", line_no)
                continue
            key = f"{_normalise(en)}\t{_normalise(ja)}".encode()
            digest = int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little")
            if digest in seen:
                stats.drop("duplicate", line_no)
                continue
            seen.add(digest)
            stats.kept += 1
            yield en, ja


def reservoir_sample(items: Iterable[T], k: int, rng: random.Random) -> list[T]:
    """A uniform sample of ``k`` items (all of them if fewer) in one pass, O(k) memory."""
    sample: list[T] = []
    for i, item in enumerate(items):
        if i < k:
            sample.append(item)
        else:
            j = rng.randrange(i + 1)
            if j < k:
                sample[j] = item
    return sample


def direction_seed(seed: int, direction: str) -> int:
    """A seed per direction, so the directions get independent samples (as in the paper)."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{direction}".encode()).digest()[:8], "little")


def format_pair(template: str, en: str, ja: str) -> str:
    """Fill a template's {ja} and {en} in one pass (text containing '{en}' stays as it is)."""
    values = {"en": en, "ja": ja}
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


def _check_cfg(cfg: dict, direction: str) -> str:
    missing = [k for k in CFG_KEYS if k not in cfg]
    if missing:
        raise WorkflowError(f"config key corpus.{missing[0]}: missing")
    template = cfg["templates"].get(direction)
    if not isinstance(template, str):
        raise WorkflowError(f"config key corpus.templates.{direction}: no template for {direction}")
    if set(_PLACEHOLDER.findall(template)) != {"ja", "en"}:
        raise WorkflowError(
            f"config key corpus.templates.{direction}: the template needs both {{ja}} and {{en}}"
        )
    return template


def prepare_corpus(
    corpus: str | Path, direction: str, cfg: dict, text_out: str | Path, report_out: str | Path,
    logger=None,
) -> dict:
    """Clean the TSV, sample ``cfg['pairs_per_direction']`` pairs for ``direction``, write them
    formatted with the direction's template as {"text": ...} lines and the report JSON.

    Returns the report. Raises WorkflowError (and writes nothing) if fewer than
    ``cfg['min_pairs']`` pairs survive cleaning.
    """
    template = _check_cfg(cfg, direction)
    stats = CleanStats()
    pairs = iter_clean_pairs(
        corpus, max_chars=int(cfg["max_chars"]), min_score=float(cfg["min_score"]), stats=stats
    )
    rng = random.Random(direction_seed(int(cfg["seed"]), direction))
    sample = reservoir_sample(pairs, int(cfg["pairs_per_direction"]), rng)
    dropped = {reason: stats.dropped[reason] for reason in DROP_REASONS}
    if stats.kept < int(cfg["min_pairs"]):
        raise WorkflowError(
            f"{corpus}: only {stats.kept} of {stats.lines} lines are usable pairs, fewer than "
            f"corpus.min_pairs = {cfg['min_pairs']} (dropped: {dropped})"
        )
    rng.shuffle(sample)  # reservoir order keeps early lines in place; mix them
    with atomic_open(text_out) as fh:
        for en, ja in sample:
            fh.write(json.dumps({"text": format_pair(template, en, ja)}, ensure_ascii=False))
            fh.write("\n")
    report = {
        "file": str(corpus),
        "direction": direction,
        "lines": stats.lines,
        "kept": stats.kept,
        "sampled": len(sample),
        "dropped": dropped,
        "first_dropped_line": {r: stats.first_dropped_line[r] for r in DROP_REASONS
                               if r in stats.first_dropped_line},
    }
    write_json(report_out, report)
    if logger:
        logger.info("%s [%s]: %d lines, %d kept, %d sampled, dropped %s",
                    corpus, direction, stats.lines, stats.kept, len(sample), dropped)
        if len(sample) < int(cfg["pairs_per_direction"]):
            logger.warning("only %d pairs available, fewer than corpus.pairs_per_direction = %s",
                           len(sample), cfg["pairs_per_direction"])
    return report


def main(smk) -> None:
    logger = get_logger("prepare_corpus", first_log(smk))
    prepare_corpus(
        smk.input.corpus, smk.wildcards.direction, dict(smk.params.cfg),
        smk.output.text, smk.output.report, logger=logger,
    )
