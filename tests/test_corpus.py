"""prepare_corpus: cleaning by reason, seeded per-direction sampling, templates, failures."""
from __future__ import annotations

import json
import random
from collections import Counter
from types import SimpleNamespace

import pytest

from wasurenai.common import WorkflowError
from wasurenai.corpus import (
    DROP_REASONS,
    CleanStats,
    format_pair,
    iter_clean_pairs,
    main,
    prepare_corpus,
    reservoir_sample,
)

TEMPLATES = {
    "ja-en": "### 指示:\n次の日本語を英語に翻訳してください。\n\n### 入力:\n{ja}\n\n### 応答:\n{en}",
    "en-ja": "### 指示:\n次の英語を日本語に翻訳してください。\n\n### 入力:\n{en}\n\n### 応答:\n{ja}",
}


def good(i: int, score: str = "0.8") -> bytes:
    return f"example.com\texample.jp\t{score}\tThe cat number {i} sleeps.\t猫{i}番が寝ます。\n".encode()


# One line of each kind of breakage, with the reason it must be dropped for.
BROKEN = [
    (b"example.com\texample.jp\t0.9\tonly four columns\n", "columns"),
    (b"a\tb\t0.9\tsix\tcolumns\there\n", "columns"),
    (b"\n", "columns"),
    (b"example.com\texample.jp\t0.9\tBroken \xff\xfe bytes.\t\xe3\x81\n", "invalid_utf8"),
    (b"example.com\texample.jp\t0.9\t   \t\xe7\x8c\xab\n", "empty"),
    ("example.com\texample.jp\t0.9\tA dog.\t\n".encode(), "empty"),
    ("example.com\texample.jp\tabc\tA dog runs.\t犬が走る。\n".encode(), "bad_score"),
    ("example.com\texample.jp\tnan\tA dog walks.\t犬が歩く。\n".encode(), "bad_score"),
    ("example.com\texample.jp\t0.2\tA dog sits.\t犬が座る。\n".encode(), "low_score"),
    (f"example.com\texample.jp\t0.9\t{'x' * 301}\t長い。\n".encode(), "too_long"),
    (f"example.com\texample.jp\t0.9\tLong Japanese.\t{'長' * 301}\n".encode(), "too_long"),
    (good(0), "duplicate"),
    ("other.com\tother.jp\t0.7\t  The cat   number 1 sleeps. \t猫1番が寝ます。\n".encode(), "duplicate"),
]


def make_cfg(**overrides) -> dict:
    cfg = {
        "path": "unused", "pairs_per_direction": 20, "min_pairs": 10, "max_chars": 300,
        "min_score": 0.5, "seed": 0, "templates": dict(TEMPLATES),
    }
    cfg.update(overrides)
    return cfg


@pytest.fixture
def tsv(tmp_path):
    """50 good lines (one with CRLF, one at the 0.5 threshold) with every breakage mixed in."""
    lines = [good(i) for i in range(50)]
    lines[7] = lines[7].replace(b"\n", b"\r\n")
    lines[8] = good(8, score="0.5")
    for k, (line, _) in enumerate(BROKEN):
        lines.insert(3 + 4 * k, line)
    path = tmp_path / "jparacrawl.tsv"
    path.write_bytes(b"".join(lines).rstrip(b"\n"))  # no newline at the end of the file
    return path


def read_texts(path) -> list[str]:
    return [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines()]


def test_each_broken_line_is_dropped_for_its_reason(tsv):
    stats = CleanStats()
    pairs = list(iter_clean_pairs(tsv, max_chars=300, min_score=0.5, stats=stats))
    expected = Counter(reason for _, reason in BROKEN)
    assert set(expected) == set(DROP_REASONS)
    assert dict(stats.dropped) == dict(expected)
    assert stats.lines == 50 + len(BROKEN)
    assert stats.kept == len(pairs) == 50
    assert pairs[0] == ("The cat number 0 sleeps.", "猫0番が寝ます。")
    assert ("The cat number 7 sleeps.", "猫7番が寝ます。") in pairs  # CRLF stripped
    # The first line number per reason points at the broken line in the file.
    raw = tsv.read_bytes().split(b"\n")
    for reason, line_no in stats.first_dropped_line.items():
        first = next(line for line, r in BROKEN if r == reason)
        assert raw[line_no - 1] == first.rstrip(b"\n")


def test_prepare_writes_templated_sample_and_report(tsv, tmp_path):
    out, report_path = tmp_path / "ja-en.jsonl", tmp_path / "ja-en.report.json"
    report = prepare_corpus(tsv, "ja-en", make_cfg(), out, report_path)
    texts = read_texts(out)
    assert len(texts) == 20 == report["sampled"] and len(set(texts)) == 20
    for text in texts:
        i = int(text.split("The cat number ")[1].split()[0])
        assert text == format_pair(TEMPLATES["ja-en"], f"The cat number {i} sleeps.", f"猫{i}番が寝ます。")
        assert text.index(f"猫{i}番") < text.index("The cat")  # ja is the input in ja-en
    assert json.loads(report_path.read_text(encoding="utf-8")) == report
    assert report["file"] == str(tsv) and report["direction"] == "ja-en"
    assert report["lines"] == 50 + len(BROKEN) and report["kept"] == 50
    assert report["dropped"] == {r: sum(1 for _, x in BROKEN if x == r) for r in DROP_REASONS}


def test_sampling_is_seeded_and_independent_per_direction(tsv, tmp_path):
    def sample(direction, seed, name):
        out = tmp_path / f"{name}.jsonl"
        prepare_corpus(tsv, direction, make_cfg(seed=seed), out, tmp_path / f"{name}.json")
        return [t.split("The cat number ")[1].split()[0] for t in read_texts(out)]

    ja_en = sample("ja-en", 0, "a")
    assert sample("ja-en", 0, "b") == ja_en  # deterministic
    assert sorted(sample("en-ja", 0, "c")) != sorted(ja_en)  # another direction, another sample
    assert sorted(sample("ja-en", 1, "d")) != sorted(ja_en)  # another seed, another sample


def test_fewer_pairs_than_requested_keeps_them_all(tsv, tmp_path):
    out = tmp_path / "en-ja.jsonl"
    cfg = make_cfg(pairs_per_direction=1000)
    report = prepare_corpus(tsv, "en-ja", cfg, out, tmp_path / "r.json")
    assert report["sampled"] == report["kept"] == len(set(read_texts(out))) == 50


def test_too_few_pairs_fails_naming_file_and_counts_and_writes_nothing(tsv, tmp_path):
    out, report = tmp_path / "ja-en.jsonl", tmp_path / "ja-en.report.json"
    with pytest.raises(WorkflowError) as err:
        prepare_corpus(tsv, "ja-en", make_cfg(min_pairs=51), out, report)
    message = str(err.value)
    for part in (str(tsv), "only 50 of 63 lines", "min_pairs = 51", "'duplicate': 2"):
        assert part in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["jparacrawl.tsv"]


def test_bad_template_names_the_config_key(tsv, tmp_path):
    cfg = make_cfg(templates={"ja-en": "{ja} only"})
    with pytest.raises(WorkflowError, match=r"corpus\.templates\.ja-en"):
        prepare_corpus(tsv, "ja-en", cfg, tmp_path / "o.jsonl", tmp_path / "r.json")
    with pytest.raises(WorkflowError, match=r"corpus\.templates\.en-ja"):
        prepare_corpus(tsv, "en-ja", cfg, tmp_path / "o.jsonl", tmp_path / "r.json")


def test_format_pair_substitutes_once():
    assert format_pair("<{en}|{ja}>", "say {ja}", "{en}です") == "<say {ja}|{en}です>"


def test_reservoir_sample_is_uniform():
    rng = random.Random(0)
    counts = Counter(x for _ in range(3000) for x in reservoir_sample(range(10), 3, rng))
    assert set(counts) == set(range(10))
    assert all(abs(c / 3000 - 0.3) < 0.04 for c in counts.values())
    assert reservoir_sample(range(2), 5, rng) == [0, 1]


def test_main_reads_the_snakemake_job(tsv, tmp_path):
    smk = SimpleNamespace(
        input=SimpleNamespace(corpus=str(tsv)),
        output=SimpleNamespace(text=str(tmp_path / "en-ja.jsonl"), report=str(tmp_path / "r.json")),
        params=SimpleNamespace(cfg=make_cfg()),
        wildcards=SimpleNamespace(direction="en-ja"),
        log=[str(tmp_path / "log" / "prepare.log")],
    )
    main(smk)
    texts = read_texts(tmp_path / "en-ja.jsonl")
    assert len(texts) == 20 and all(t.startswith("### 指示:\n次の英語を日本語に") for t in texts)
    assert "20 sampled" in (tmp_path / "log" / "prepare.log").read_text(encoding="utf-8")
