"""synthesize_data: a distinct, deterministic world; held-out pairs stay out of every training
text; the TSV's shape and breakage; datasets that llm-jp-eval's reader accepts and that say
what they should."""
from __future__ import annotations

import json
import math
import random
import re
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from wasurenai.common import WorkflowError
from wasurenai.llm_jp_eval import dataset_path, load_dataset
from wasurenai.synthetic import (
    DATASETS,
    MALFORMED_KINDS,
    NLI_LABELS,
    build_world,
    generate_pairs,
    main,
    synthesize,
)

REPO = Path(__file__).resolve().parents[1]
DEMO_CFG = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))["synthetic"]
SMALL_CFG = {
    "seed": 3, "corpus_pairs": 400, "malformed_lines": 18, "test_pairs": 16, "general_train": 40,
    "general_test": 8, "monolingual_sentences": 200, "pretrain_parallel_pairs": 20,
}
MAX_CHARS = 300  # corpus.max_chars of config.yaml


def run(tmp: Path, cfg: dict) -> dict:
    return synthesize(cfg, tmp / "jparacrawl.tsv", tmp / "monolingual.jsonl", tmp / "llm_jp_eval")


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    """The outputs for config.yaml's synthetic section (well under a second)."""
    tmp = tmp_path_factory.mktemp("demo")
    run(tmp, DEMO_CFG)
    return tmp


def docs(tmp: Path) -> list[str]:
    return [json.loads(line)["text"] for line in (tmp / "monolingual.jsonl").open(encoding="utf-8")]


def samples(tmp: Path, split: str, name: str):
    return load_dataset(dataset_path(tmp / "llm_jp_eval", split, name)).samples


def classify(raw: bytes, seen: set) -> str:
    """Why prepare_corpus would drop a line (or 'ok' / 'low_score')."""
    try:
        line = raw.decode("utf-8").rstrip("\n")
    except UnicodeDecodeError:
        return "invalid_utf8"
    cols = line.split("\t")
    if len(cols) != 5:
        return "columns"
    en, ja = cols[3].strip(), cols[4].strip()
    if not en or not ja:
        return "empty"
    try:
        score = float(cols[2])
    except ValueError:
        score = math.nan
    if not math.isfinite(score):
        return "bad_score"
    if score < 0.5:
        return "low_score"
    if len(en) > MAX_CHARS or len(ja) > MAX_CHARS:
        return "too_long"
    key = (" ".join(en.split()), " ".join(ja.split()))
    if key in seen:
        return "duplicate"
    seen.add(key)
    return "ok"


def test_pairs_are_distinct_short_and_regular():
    pairs = generate_pairs(random.Random(0), 3000)
    assert len({en for en, _ in pairs}) == len({ja for _, ja in pairs}) == 3000
    for en, ja in pairs:
        assert en == en.lower() and en.endswith(".") and len(en.split()) <= 12, en
        assert ja.endswith("。") and " " not in ja and not re.search(r"[a-z]", ja), ja


def test_grammar_too_small_fails_naming_the_key(monkeypatch):
    import wasurenai.synthetic as synthetic

    few = [synthetic.random_clause(random.Random(i)) for i in range(5)]
    monkeypatch.setattr(synthetic, "random_clause", lambda rng: rng.choice(few))
    with pytest.raises(WorkflowError, match="synthetic.corpus_pairs"):
        generate_pairs(random.Random(0), 10)


def test_deterministic_given_seed(tmp_path):
    outputs = []
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        run(tmp_path / name, {**SMALL_CFG, "seed": seed})
        files = sorted(p for p in (tmp_path / name).rglob("*") if p.is_file())
        outputs.append([p.read_bytes() for p in files])
    assert outputs[0] == outputs[1]
    assert outputs[0] != outputs[2]


def test_held_out_pairs_are_in_no_training_text(demo):
    world = build_world(DEMO_CFG)
    held_out = world.held_out
    assert len(held_out) == 4 * DEMO_CFG["test_pairs"]  # two directions x two languages
    training = [
        (demo / "jparacrawl.tsv").read_bytes().decode("utf-8", errors="replace"),
        "\n".join(docs(demo)),
    ] + [s.input + "\n" + s.output for name in DATASETS for s in samples(demo, "train", name)]
    training = "\n".join(training)
    leaked = [s for s in held_out if s in training]
    assert not leaked
    # the MT test splits are exactly the held-out pairs, different pairs per direction
    j2e = {(s.output, s.input) for s in samples(demo, "test", "synth_mt_j_to_e")}
    e2j = {(s.input, s.output) for s in samples(demo, "test", "synth_mt_e_to_j")}
    assert j2e == set(world.test["ja-en"]) and e2j == set(world.test["en-ja"])
    assert len(j2e) == len(e2j) == DEMO_CFG["test_pairs"] and not j2e & e2j


def test_tsv_shape_scores_and_every_kind_of_breakage(demo):
    lines = (demo / "jparacrawl.tsv").read_bytes().splitlines(keepends=True)
    seen: set = set()
    kinds = Counter(classify(raw, seen) for raw in lines)
    assert kinds["ok"] == DEMO_CFG["corpus_pairs"]
    assert 0 < kinds["low_score"] < 0.2 * DEMO_CFG["corpus_pairs"]
    assert sum(kinds[k] for k in MALFORMED_KINDS) == DEMO_CFG["malformed_lines"]
    assert all(kinds[k] > 0 for k in MALFORMED_KINDS), kinds
    for raw in lines[:50]:
        cols = raw.decode("utf-8", errors="replace").rstrip("\n").split("\t")
        if len(cols) == 5 and cols[3].strip():
            assert cols[0].endswith(".com") and cols[1].endswith(".jp")


def test_datasets_load_and_are_well_formed(demo):
    n_train, n_test = DEMO_CFG["general_train"], DEMO_CFG["general_test"]
    for name, spec in DATASETS.items():
        train = load_dataset(dataset_path(demo / "llm_jp_eval", "train", name))
        test = load_dataset(dataset_path(demo / "llm_jp_eval", "test", name))
        assert train.metrics == test.metrics == list(spec.metrics)
        assert train.instruction == spec.instruction and 0 < spec.output_length <= 48
        assert len(train.samples) == n_train
        assert len(test.samples) == (DEMO_CFG["test_pairs"] if "_mt_" in name else n_test)
        assert all(s.input and s.output for s in train.samples + test.samples)
        if not name.startswith("synth_mt"):  # short answers
            assert max(len(s.output) for s in train.samples + test.samples) <= len("contradiction")
        if name in ("synth_nli", "synth_choice", "synth_mt_j_to_e", "synth_mt_e_to_j"):
            assert not {s.input for s in test.samples} & {s.input for s in train.samples}
    assert DATASETS["synth_mt_j_to_e"].instruction == "次の日本語を英語に翻訳してください。"
    assert DATASETS["synth_mt_e_to_j"].instruction == "次の英語を日本語に翻訳してください。"
    assert DATASETS["synth_mt_j_to_e"].metrics == ("bert_score_en_f1", "bleu_en")
    assert DATASETS["synth_mt_e_to_j"].metrics == ("bert_score_ja_f1", "bleu_ja")


def test_arithmetic_answers_are_right_and_test_facts_unseen_in_train(demo):
    def fact(text: str) -> tuple[int, int, bool]:
        a, op, b = re.fullmatch(r"(\d+) ?(\+|-|たす|ひく) ?(\d+)(?: =|は？)", text).groups()
        return int(a), int(b), op in ("+", "たす")

    def solve(text: str) -> int:
        a, b, plus = fact(text)
        return a + b if plus else a - b

    train = samples(demo, "train", "synth_arithmetic")
    test = samples(demo, "test", "synth_arithmetic")
    for s in train + test:
        assert str(solve(s.input)) == s.output and 0 <= int(s.output) <= 18
    assert not {fact(s.input) for s in test} & {fact(s.input) for s in train}
    # ... but every test fact is stated in the monolingual text
    text = "\n".join(docs(demo))
    for s in test:
        stated = f"{s.input} {s.output}" if "=" in s.input else f"{s.input[:-2]}は{s.output}です。"
        assert stated in text, stated


def test_qa_answers_are_stated_in_monolingual_and_test_facts_unseen_in_train(demo):
    text = "\n".join(docs(demo))
    train, test = samples(demo, "train", "synth_facts_qa"), samples(demo, "test", "synth_facts_qa")

    for s in test:
        if s.input.endswith("？"):  # Japanese: 太郎の好きな果物は何ですか？ / 太郎はどこに住んでいますか？
            stated = (s.input.replace("何ですか？", f"{s.output}です。")
                      .replace("どこに住んでいますか？", f"{s.output}に住んでいます。"))
        else:  # what is taro's favorite fruit? / where does taro live?
            m = re.fullmatch(r"what is (\w+)'s (.+)\?|where does (\w+) live\?", s.input)
            stated = (f"{m[1]}'s {m[2]} is {s.output}." if m[1] else f"{m[3]} lives in {s.output}.")
        assert stated in text, stated
    assert not {s.input for s in test} & {s.input for s in train}


def test_nli_and_choice_labels(demo):
    nli = samples(demo, "train", "synth_nli")
    assert {s.output for s in nli[:3]} == set(NLI_LABELS)  # the few-shot head shows each label
    counts = Counter(s.output for s in nli + samples(demo, "test", "synth_nli"))
    assert set(counts) == set(NLI_LABELS) and min(counts.values()) > 0.2 * sum(counts.values())
    for s in nli:
        premise, hypothesis = s.input.split("\n")
        assert premise.startswith("前提：") and hypothesis.startswith("仮説：")
    choice = samples(demo, "train", "synth_choice") + samples(demo, "test", "synth_choice")
    for s in choice:
        options = s.input.split("\n選択肢：")[1].split(",")
        assert len(options) == 4 and options[int(s.output)].startswith(f"{s.output}.")
    assert len({s.output for s in choice}) == 4


def test_bad_config_names_the_key(tmp_path):
    cfg = dict(SMALL_CFG)
    del cfg["test_pairs"]
    with pytest.raises(WorkflowError, match="synthetic.test_pairs"):
        run(tmp_path, cfg)
    with pytest.raises(WorkflowError, match="synthetic.corpus_pairs"):
        run(tmp_path, {**SMALL_CFG, "corpus_pairs": 0})
    with pytest.raises(WorkflowError, match="synthetic.general_test"):
        run(tmp_path, {**SMALL_CFG, "general_test": 500})  # more than the arithmetic facts
    assert not list(tmp_path.iterdir())  # nothing complete-looking is left behind


def test_main_reads_the_snakemake_job(tmp_path):
    out = SimpleNamespace(corpus=str(tmp_path / "d" / "jparacrawl.tsv"),
                          monolingual=str(tmp_path / "d" / "monolingual.jsonl"),
                          datasets=str(tmp_path / "d" / "llm_jp_eval"))
    log = tmp_path / "logs" / "synthesize_data.log"
    main(SimpleNamespace(output=out, params=SimpleNamespace(cfg=SMALL_CFG), log=[str(log)]))
    assert Path(out.corpus).stat().st_size > 0 and Path(out.monolingual).stat().st_size > 0
    assert len(list(Path(out.datasets).glob("*/*.json"))) == 2 * len(DATASETS)
    assert "aligned_pairs" in log.read_text(encoding="utf-8")
