"""prepare_corpus: cleaning by reason, seeded per-direction sampling, templates, failures."""
from __future__ import annotations

import json
import random
from collections import Counter
from types import SimpleNamespace

import pytest

from wasurenai.common import WorkflowError
from wasurenai.jobs import PrepareCorpusJob
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
    # control characters anywhere in the line (tab separates columns, so never inside one)
    ("example.com\texample.jp\t0.9\tThe\x00 cat\t猫です。\n".encode(), "control_chars"),
    ("example.com\texample.jp\t0.9\tA bird.\t鳥\x1b[0mです。\n".encode(), "control_chars"),
    ("example.com\texample.jp\t0.9\tA fox\x7f.\t狐です。\n".encode(), "control_chars"),
    ("example.com\texample.jp\t0.9\tA hen\u0085.\t鶏です。\n".encode(), "control_chars"),  # C1
    ("example.com\texample.jp\t0.9\tA cow\r runs.\t牛が走る。\n".encode(), "control_chars"),
    ("example.com\texample.jp\t0.9\tA pig\x0c sits.\t豚が座る。\n".encode(), "control_chars"),
    # markup debris from the crawl
    ("example.com\texample.jp\t0.9\tRead more<br>here.\t続きはこちら。\n".encode(), "markup"),
    ("example.com\texample.jp\t0.9\tTom &amp; Jerry.\tトムとジェリー。\n".encode(), "markup"),
    ("example.com\texample.jp\t0.9\tIt is Ken's.\tケン&#39;sのです。\n".encode(), "markup"),
    ('example.com\texample.jp\t0.9\tA map.\t<a href="/x">地図</a>です。\n'.encode(), "markup"),
    # the two sides the same text (whitespace and case aside)
    ("example.com\texample.jp\t0.9\tTokyo Tower\tTokyo Tower\n".encode(), "copy"),
    ("example.com\texample.jp\t0.9\t東京タワー\t東京タワー\n".encode(), "copy"),
    ("example.com\texample.jp\t0.9\tHELLO  World\thello world\n".encode(), "copy"),
    # swapped columns and same-language pairs
    ("example.com\texample.jp\t0.9\t猫が寝ます。\tThe cat sleeps.\n".encode(), "wrong_language"),
    ("example.com\texample.jp\t0.9\tThe cat sleeps.\tA cat is sleeping.\n".encode(), "wrong_language"),
    ("example.com\texample.jp\t0.9\t猫が寝る。\t猫は寝ています。\n".encode(), "wrong_language"),
    ("example.com\texample.jp\t0.9\tThe year 2019.\t2019.\n".encode(), "wrong_language"),
    ("example.com\texample.jp\t0.9\tПривет, мир.\tこんにちは、世界。\n".encode(), "wrong_language"),
    ("example.com\texample.jp\t0.9\tiPhoneの新しい機能\tiPhoneの新機能\n".encode(), "wrong_language"),
    # lengths out of proportion (more than 9 times the characters)
    (f"example.com\texample.jp\t0.9\tYes.\t{'はい、' * 13}\n".encode(), "length_ratio"),
    (f"example.com\texample.jp\t0.9\t{'A cat sleeps. ' * 7}\t猫。\n".encode(), "length_ratio"),
    (good(0), "duplicate"),
    ("other.com\tother.jp\t0.7\t  The cat   number 1 sleeps. \t猫1番が寝ます。\n".encode(), "duplicate"),
]


# Lines near each threshold that are kept.
KEPT = [
    "example.com\texample.jp\t0.9\tThe new features of the iPhone.\tiPhoneの新しい機能です。\n",
    "example.com\texample.jp\t0.9\tTokyo (東京) is a large city.\t東京は大きな都市です。\n",
    "example.com\texample.jp\t0.9\tQ&A: x < y > z.\t質問と回答：x < y > z。\n",
    "example.com\texample.jp\t0.9\tCafé au lait, naïve.\tカフェオレ、ナイーブ。\n",
    f"example.com\texample.jp\t0.9\t{'a' * 36}\t猫猫猫猫\n",  # ratio exactly 9
    "example.com\texample.jp\t0.9\tＦｕｌｌ ｗｉｄｔｈ.\t全角です。\n",
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


def test_lines_near_each_threshold_are_kept(tmp_path):
    path = tmp_path / "kept.tsv"
    path.write_bytes("".join(KEPT).encode())
    stats = CleanStats()
    pairs = list(iter_clean_pairs(path, max_chars=300, min_score=0.5, stats=stats))
    assert stats.kept == len(pairs) == len(KEPT) and not stats.dropped


@pytest.mark.parametrize("key, value, line, reason", [
    ("max_length_ratio", 3.0, "A cat sleeps here.\t猫が寝る。", "length_ratio"),  # 18 vs 5
    ("min_ja_script", 0.6, "The new iPhone.\tiPhoneの新機能", "wrong_language"),  # 4 of 10
    ("min_en_latin", 0.95, "Tokyo (東京) is a large city.\t東京は大都市。", "wrong_language"),
])
def test_thresholds_come_from_the_config(tmp_path, key, value, line, reason):
    path = tmp_path / "c.tsv"
    path.write_text(f"a\tb\t0.9\t{line}\n", encoding="utf-8")
    default, tuned = CleanStats(), CleanStats()
    assert len(list(iter_clean_pairs(path, max_chars=300, min_score=0.5, stats=default))) == 1
    assert not list(iter_clean_pairs(path, max_chars=300, min_score=0.5, stats=tuned, **{key: value}))
    assert dict(tuned.dropped) == {reason: 1}


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
    raw = tsv.read_bytes().split(b"\n")
    dup, control = (next(line for line, x in BROKEN if x == r).rstrip(b"\n")
                    for r in ("duplicate", "control_chars"))
    first = {"duplicate": raw.index(dup, raw.index(dup) + 1) + 1,  # the repeat, not the original
             "control_chars": raw.index(control) + 1}
    for part in (str(tsv), f"only 50 of {50 + len(BROKEN)} lines", "min_pairs = 51",
                 f"duplicate 2 (first: line {first['duplicate']})",
                 f"control_chars 6 (first: line {first['control_chars']})"):
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
    main(PrepareCorpusJob.from_snakemake(smk))
    texts = read_texts(tmp_path / "en-ja.jsonl")
    assert len(texts) == 20 and all(t.startswith("### 指示:\n次の英語を日本語に") for t in texts)
    assert "20 sampled" in (tmp_path / "log" / "prepare.log").read_text(encoding="utf-8")
