"""Parallel corpus (JParaCrawl v3 TSV) -> cleaned, sampled, prompt-formatted text per direction.

The TSV is streamed as bytes, one line at a time, so memory does not grow with the file:
what is kept in memory is the reservoir (``pairs_per_direction`` pairs) and one 8-byte digest
per distinct pair for de-duplication (~70 bytes each in a Python set: ~1.8 GB for the
25.7M lines of JParaCrawl v3, measured in the README).

Cleaning runs these checks in this order; a line is dropped (and counted) for the first it
fails, so each reason counts lines that passed every check before it:

1. ``invalid_utf8``: the line is not valid UTF-8 (the real file has such lines).
2. ``columns``: not 5 tab-separated columns (domain_en, domain_ja, score, english, japanese).
3. ``empty``: a side is empty or only whitespace.
4. ``bad_score`` / ``low_score``: the score is not a finite number / is below ``min_score``.
5. ``control_chars``: a C0 or C1 control character (NUL, ESC, DEL, U+0080-U+009F, a CR
   inside the text ...) in either side (whitespace controls at a side's edges go with the
   stripping); tab separates the columns, so it never occurs inside one.
6. ``markup``: an HTML/XML tag (``<br>``, ``</p>``) or character entity (``&amp;``,
   ``&#39;``) left over from the crawl, in either side.
7. ``too_long``: a side longer than ``max_chars`` characters.
8. ``copy``: the two sides are the same text (after whitespace normalisation, ignoring case).
9. ``wrong_language``: the Japanese side has too few letters in Japanese script (kana or
   kanji; share below ``min_ja_script``) or the English side too few in Latin script (share
   below ``min_en_latin``); shares count letters only, not digits, punctuation or spaces.
   Swapped columns and same-language pairs fail here.
10. ``length_ratio``: the longer side has more than ``max_length_ratio`` times the
    characters of the shorter (an English side is typically 1.5-4.5 times the Japanese).
11. ``duplicate``: the pair repeats an earlier kept pair (after whitespace normalisation).
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

from wasurenai.common import WorkflowError, atomic_open, get_logger, write_json
from wasurenai.jobs import PrepareCorpusJob

# Why a line is dropped, in the order the checks run.
DROP_REASONS = (
    "invalid_utf8", "columns", "empty", "bad_score", "low_score", "control_chars", "markup",
    "too_long", "copy", "wrong_language", "length_ratio", "duplicate",
)
N_COLUMNS = 5  # domain_en, domain_ja, score, english, japanese
CFG_KEYS = ("pairs_per_direction", "min_pairs", "max_chars", "min_score", "seed", "templates")
# Optional keys and their defaults (the schema documents them).
CFG_DEFAULTS = {"max_length_ratio": 9.0, "min_ja_script": 0.2, "min_en_latin": 0.7}
_PLACEHOLDER = re.compile(r"\{(ja|en)\}")

# C0 and C1 controls and DEL, except tab (the column separator).
_CONTROL_CHARS = r"\x00-\x08\x0a-\x1f\x7f-\x9f"
_CONTROL = re.compile(f"[{_CONTROL_CHARS}]")
_MARKUP = re.compile(
    r"</?[A-Za-z][A-Za-z0-9]*(?:\s[^<>]*)?/?>|&(?:[A-Za-z][A-Za-z0-9]{1,31}|#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6});"
)
# Kanji (CJK unified ideographs, extension A, compatibility ideographs), kana (hiragana,
# katakana and its extensions, half-width katakana) and the marks 々〆〇; commonest first.
_JAPANESE_CHARS = (
    "\u4e00-\u9fff\u3041-\u309f\u30a0-\u30ff\u3005-\u3007\u31f0-\u31ff\u3400-\u4dbf"
    "\uf900-\ufaff\uff66-\uff9f"
)
_JAPANESE = re.compile(f"[{_JAPANESE_CHARS}]+")
# Characters that are no letters: ASCII, Latin-1, general and CJK punctuation, symbols,
# full-width digits and punctuation (plain ranges: the regex tests them in one lookup).
_NON_LETTER_CHARS = (
    "\x00-\x40\x5b-\x60\x7b-\xbf\xd7\xf7\u2000-\u206f\u3000-\u3004\u3008-\u303f"
    "\uff01-\uff20\uff3b-\uff40\uff5b-\uff65"
)
# Some Japanese, and nothing but Japanese and non-letters: ja_share's fast path.
_JAPANESE_ONLY = re.compile(
    rf"(?=[^{_JAPANESE_CHARS}]*[{_JAPANESE_CHARS}])[{_JAPANESE_CHARS}{_NON_LETTER_CHARS}]*"
)
# Latin letters: ASCII, Latin-1, Latin Extended-A/B and Additional, full-width.
_LATIN = re.compile("[A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff\uff21-\uff3a\uff41-\uff5a]+")
_LETTER = re.compile(r"[^\W\d_]")  # any script's letters
_ASCII_NON_LETTERS = bytes(b for b in range(128) if not chr(b).isalpha())

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


def _letters_outside(rest: str) -> int:
    """Letters (any script) in what is left of a side once its own script is removed."""
    if rest.isascii():  # the common case: digits, punctuation, a few ASCII letters
        return len(rest.encode().translate(None, _ASCII_NON_LETTERS))
    return len(_LETTER.findall(rest))


def script_share(text: str, script: re.Pattern) -> float:
    """The share of ``text``'s letters (any script's; not digits, punctuation or spaces)
    that ``script`` matches; 0.0 for a text without letters."""
    rest = script.sub("", text)
    in_script = len(text) - len(rest)
    letters = in_script + _letters_outside(rest)
    return in_script / letters if letters else 0.0


def ja_share(ja: str) -> float:
    """Share of the letters of a Japanese side in kana or kanji."""
    if ja.isascii():
        return 0.0
    if _JAPANESE_ONLY.fullmatch(ja):  # the common case, without counting
        return 1.0
    return script_share(ja, _JAPANESE)


def en_share(en: str) -> float:
    """Share of the letters of an English side in Latin script."""
    if en.isascii():  # the common case, without counting: ASCII letters are Latin
        return 1.0 if en.upper() != en or en.lower() != en else 0.0  # iff there is a letter
    return script_share(en, _LATIN)


@dataclass(frozen=True, slots=True)
class CleanLimits:
    """The thresholds of the cleaning checks (the ``corpus.*`` keys of the same names)."""

    max_chars: int
    min_score: float
    max_length_ratio: float
    min_ja_script: float
    min_en_latin: float


def _parse_line(raw: bytes, min_score: float) -> tuple[str, str, str, str]:
    """(reason, line, english, japanese) of one raw TSV line, the sides stripped: reason is
    the first of checks 1-4 the line fails (invalid_utf8, columns, empty, bad_score,
    low_score), "" when it passes them all."""
    try:
        line = raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        return "invalid_utf8", "", "", ""
    columns = line.split("\t")
    if len(columns) != N_COLUMNS:
        return "columns", line, "", ""
    en, ja = columns[3].strip(), columns[4].strip()
    if not en or not ja:
        return "empty", line, en, ja
    try:
        score = float(columns[2])
    except ValueError:
        score = math.nan
    if not math.isfinite(score):
        return "bad_score", line, en, ja
    if score < min_score:
        return "low_score", line, en, ja
    return "", line, en, ja


def _text_reason(line: str, en: str, ja: str, limits: CleanLimits) -> tuple[str, str]:
    """(reason, key) of a parsed pair: reason is the first of checks 5-10 its text fails
    (control_chars, markup, too_long, copy, wrong_language, length_ratio), "" when it passes
    them all; key is the pair whitespace-normalised, what de-duplication compares."""
    # isprintable() is False for controls and for whitespace other than " "
    plain = en.isprintable() and ja.isprintable()
    if not plain and (_CONTROL.search(en) or _CONTROL.search(ja)):
        return "control_chars", ""
    if ("<" in line or "&" in line) and (_MARKUP.search(en) or _MARKUP.search(ja)):
        return "markup", ""
    n_en, n_ja = len(en), len(ja)
    if n_en > limits.max_chars or n_ja > limits.max_chars:
        return "too_long", ""
    # Both sides whitespace-normalised in one pass (NUL, a control character, cannot occur
    # in them); printable sides without double spaces already are.
    if plain and "  " not in en and "  " not in ja:
        key, norm_en, norm_ja = f"{en}\0{ja}", en, ja
    else:
        key = " ".join(f"{en}\0{ja}".split())
        norm_en, _, norm_ja = key.partition("\0")
    if len(norm_en) == len(norm_ja) and norm_en.lower() == norm_ja.lower():
        return "copy", ""
    if ja_share(ja) < limits.min_ja_script or en_share(en) < limits.min_en_latin:
        return "wrong_language", ""
    ratio = limits.max_length_ratio
    if n_en > ratio * n_ja or n_ja > ratio * n_en:
        return "length_ratio", ""
    return "", key


def iter_clean_pairs(
    path: str | Path, *, max_chars: int, min_score: float, stats: CleanStats,
    max_length_ratio: float = CFG_DEFAULTS["max_length_ratio"],
    min_ja_script: float = CFG_DEFAULTS["min_ja_script"],
    min_en_latin: float = CFG_DEFAULTS["min_en_latin"],
) -> Iterator[tuple[str, str]]:
    """Yield the (english, japanese) pairs of a JParaCrawl v3 TSV that pass every check
    (the module docstring lists them in order); count each dropped line in ``stats`` by the
    first check it fails, with its 1-based line number (``stats.lines`` and ``stats.kept``
    are added when the iteration ends). Sides are yielded stripped."""
    limits = CleanLimits(max_chars, min_score, max_length_ratio, min_ja_script, min_en_latin)
    seen: set[int] = set()
    blake2b, drop, line_no, kept = hashlib.blake2b, stats.drop, 0, 0
    try:
        with open(path, "rb") as fh:
            for line_no, raw in enumerate(fh, start=1):
                reason, line, en, ja = _parse_line(raw, min_score)
                if not reason:
                    reason, key = _text_reason(line, en, ja, limits)
                if not reason:  # 11. duplicate: one 8-byte digest per kept pair
                    digest = int.from_bytes(blake2b(key.encode(), digest_size=8).digest(),
                                            "little")
                    if digest in seen:
                        reason = "duplicate"
                if reason:
                    drop(reason, line_no)
                    continue
                seen.add(digest)
                kept += 1
                yield en, ja
    finally:
        stats.lines += line_no
        stats.kept += kept


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
    for key in ("min_ja_script", "min_en_latin"):
        if not 0 <= float(cfg[key]) <= 1:
            raise WorkflowError(f"config key corpus.{key} = {cfg[key]}: must be in [0, 1]")
    if float(cfg["max_length_ratio"]) < 1:
        raise WorkflowError(f"config key corpus.max_length_ratio = {cfg['max_length_ratio']}: must be >= 1")
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
    cfg = {**CFG_DEFAULTS, **cfg}
    template = _check_cfg(cfg, direction)
    stats = CleanStats()
    pairs = iter_clean_pairs(
        corpus, max_chars=int(cfg["max_chars"]), min_score=float(cfg["min_score"]), stats=stats,
        **{key: float(cfg[key]) for key in CFG_DEFAULTS},
    )
    rng = random.Random(direction_seed(int(cfg["seed"]), direction))
    sample = reservoir_sample(pairs, int(cfg["pairs_per_direction"]), rng)
    dropped = {reason: stats.dropped[reason] for reason in DROP_REASONS}
    first = {r: stats.first_dropped_line[r] for r in DROP_REASONS if r in stats.first_dropped_line}
    if stats.kept < int(cfg["min_pairs"]):
        raise WorkflowError(
            f"{corpus}: only {stats.kept} of {stats.lines} lines are usable pairs, fewer than "
            f"corpus.min_pairs = {cfg['min_pairs']}; dropped: "
            + ", ".join(f"{r} {n} (first: line {first[r]})" for r, n in dropped.items() if n)
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
        "first_dropped_line": first,
    }
    write_json(report_out, report)
    if logger:
        logger.info("%s [%s]: %d lines, %d kept, %d sampled, dropped %s",
                    corpus, direction, stats.lines, stats.kept, len(sample), dropped)
        if len(sample) < int(cfg["pairs_per_direction"]):
            logger.warning("only %d pairs available, fewer than corpus.pairs_per_direction = %s",
                           len(sample), cfg["pairs_per_direction"])
    return report


def main(job: PrepareCorpusJob) -> None:
    logger = get_logger("prepare_corpus", job.log)
    prepare_corpus(job.corpus, job.direction, job.cfg, job.text, job.report, logger=logger)
