"""synthesize_data: a distinct, deterministic world; held-out pairs stay out of every training
text; the TSV's shape and breakage; datasets that llm-jp-eval's reader accepts and that say
what they should."""
from __future__ import annotations

import ast
import builtins
import json
import keyword
import math
import random
import re
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from wasurenai.common import WorkflowError
from wasurenai.jobs import SynthesizeDataJob
from wasurenai.llm_jp_eval import dataset_path, load_dataset, resolve_categories, train_path
from wasurenai.synthetic import (
    ADJS,
    CODE_NAMES,
    DATASETS,
    EXAM_GROUPS,
    EXAM_LETTERS,
    MALFORMED_KINDS,
    NAMES,
    NER_TYPES,
    NLI_LABELS,
    SENTIMENTS,
    SOLUTION_FIELD,
    SPLITS,
    build_world,
    code_items,
    reading,
    generate_pairs,
    main,
    split_dir,
    synthesize,
)

REPO = Path(__file__).resolve().parents[1]
DEMO = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
DEMO_CFG = DEMO["synthetic"]
SMALL_CFG = {
    "seed": 3, "corpus_pairs": 400, "malformed_lines": 18, "test_pairs": 16, "general_train": 40,
    "general_dev": 4, "general_test": 8, "monolingual_sentences": 200, "pretrain_parallel_pairs": 20,
}
PAPER_CATEGORIES = ("NLI", "QA", "RC", "MC", "EL", "FA", "MR", "MT", "HE", "CG")
# the metric llm-jp-eval scores each of the paper's categories with
CATEGORY_METRIC = {"NLI": "exact_match", "QA": "char_f1", "RC": "char_f1", "MC": "exact_match",
                   "EL": "set_f1", "FA": {"char_f1", "set_f1"}, "MR": "exact_match",
                   "MT": "comet_wmt22", "HE": "exact_match", "CG": "code_exec"}
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
    return load_dataset(dataset_path(split_dir(tmp / "llm_jp_eval", split), name)).samples


def raw_samples(tmp: Path, split: str, name: str) -> list[dict]:
    path = dataset_path(split_dir(tmp / "llm_jp_eval", split), name)
    return json.loads(path.read_text(encoding="utf-8"))["samples"]


def run_tests(code: str, tests: list[str]) -> bool:
    """Whether ``code`` and then every test statement run without error (code_exec's rule),
    in a fresh namespace; only ever given this module's own generated functions."""
    namespace: dict = {}
    try:
        exec(code, namespace)  # noqa: S102 -- the synthetic reference solutions
        for test in tests:
            exec(test, namespace)  # noqa: S102
    except Exception:  # noqa: BLE001 -- any failure fails the sample
        return False
    return True


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
    # two directions x two languages, test and dev pairs
    assert len(held_out) == 4 * (DEMO_CFG["test_pairs"] + DEMO_CFG["general_dev"])
    training = [
        (demo / "jparacrawl.tsv").read_bytes().decode("utf-8", errors="replace"),
        "\n".join(docs(demo)),
    ] + [json.dumps(raw_samples(demo, "train", name), ensure_ascii=False) for name in DATASETS]
    training = "\n".join(training)
    leaked = [s for s in held_out if s in training]
    assert not leaked
    # ... nor in any split of a dataset other than MT
    other = "\n".join(s.input + "\n" + s.output for name in DATASETS if "_mt_" not in name
                      for split in SPLITS for s in samples(demo, split, name))
    assert not [s for s in held_out if s in other]
    # the MT test and dev splits are exactly the held-out pairs, different pairs per direction
    # and per split
    for split, pairs, n in (("test", world.test, DEMO_CFG["test_pairs"]),
                            ("dev", world.dev, DEMO_CFG["general_dev"])):
        j2e = {(s.output, s.input) for s in samples(demo, split, "synth_mt_j_to_e")}
        e2j = {(s.input, s.output) for s in samples(demo, split, "synth_mt_e_to_j")}
        assert j2e == set(pairs["ja-en"]) and e2j == set(pairs["en-ja"])
        assert len(j2e) == len(e2j) == n and not j2e & e2j
    assert not set(world.test["ja-en"]) & set(world.dev["ja-en"])


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


def test_datasets_are_in_llm_jp_evals_layout_and_well_formed(demo):
    root = demo / "llm_jp_eval"
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_dir()) == [
        "evaluation", "evaluation/dev", "evaluation/test", "evaluation/train"]
    sizes = {"train": DEMO_CFG["general_train"], "dev": DEMO_CFG["general_dev"],
             "test": DEMO_CFG["general_test"]}
    for name, spec in DATASETS.items():
        for split in SPLITS:
            ds = load_dataset(dataset_path(split_dir(root, split), name))
            assert ds.metrics == list(spec.metrics) and ds.instruction == spec.instruction
            assert ds.output_length == spec.output_length <= 48
            n = DEMO_CFG["test_pairs"] if "_mt_" in name and split == "test" else sizes[split]
            assert len(ds.samples) == n, (name, split)
            assert all(s.input and s.output for s in ds.samples)
            if spec.label_list:
                assert {s.output for s in ds.samples} <= set(spec.label_list)
            fields = {k for s in raw_samples(demo, split, name) for k in s}
            extra = {SOLUTION_FIELD} if name == "synth_code" and split == "train" else set()
            assert fields == {"input", "output"} | extra, (name, split)  # llm-jp-eval's format
        # no input in two splits
        inputs = {split: {s.input for s in samples(demo, split, name)} for split in SPLITS}
        assert not inputs["train"] & inputs["test"] and not inputs["train"] & inputs["dev"]
        assert not inputs["dev"] & inputs["test"], name
        # the train split lies beside the test split, where the evaluation takes few-shots from
        assert train_path(split_dir(root, "test"), name) == dataset_path(
            split_dir(root, "train"), name).resolve()
    assert DATASETS["synth_mt_j_to_e"].instruction == "次の日本語を英語に翻訳してください。"
    assert DATASETS["synth_mt_e_to_j"].instruction == "次の英語を日本語に翻訳してください。"
    assert DATASETS["synth_mt_j_to_e"].metrics == ("bleu_en", "bert_score_en_f1", "comet_wmt22")
    assert DATASETS["synth_mt_e_to_j"].metrics == ("bleu_ja", "bert_score_ja_f1", "comet_wmt22")


def test_config_evaluates_the_papers_ten_categories_with_llm_jp_evals_metrics():
    ev = DEMO["evaluation"]
    assert ev["dataset_dir"] == "results/data/synthetic/llm_jp_eval/evaluation/test"
    categories = resolve_categories(ev["categories"])
    assert tuple(categories) == PAPER_CATEGORIES
    members = [(cat, d, m or DATASETS[d].metrics[0]) for cat, ms in categories.items() for d, m in ms]
    assert sorted(d for _, d, _ in members) == sorted(DATASETS)  # each dataset once
    for cat, dataset, metric in members:
        assert metric in DATASETS[dataset].metrics
        wanted = CATEGORY_METRIC[cat]
        assert metric in (wanted if isinstance(wanted, set) else {wanted}), (cat, dataset)
    assert {m for cat, _, m in members if cat == "FA"} == {"char_f1", "set_f1"}
    assert ev["translation"] == {"ja-en": "synth_mt_j_to_e", "en-ja": "synth_mt_e_to_j"}


def test_every_split_key_stays_in_one_split(demo):
    """The question banks (arithmetic, QA, exam, code): no fact, word or function of the test
    split is asked in dev or train, none of dev in train."""
    def arithmetic(text: str):
        a, op, b = re.fullmatch(r"(\d+) ?(\+|-|たす|ひく) ?(\d+)(?: =|は？)", text).groups()
        return int(a), int(b), op in ("+", "たす")

    names = {w[1]: w[0] for w in NAMES}
    words = {w[i]: w[0] for group in EXAM_GROUPS for w in group for i in (0, 1)}

    def qa(text: str):
        m = re.fullmatch(r"what is (\w+)'s favorite (\w+)\?|where does (\w+) live\?|"
                         r"what is (\w+)'s job\?", text)
        if m:
            return (m[1] or m[3] or m[4], m[2] or ("city" if m[3] else "job"))
        m = re.fullmatch(r"(.+?)(?:の好きな(.+)は何ですか？|はどこに住んでいますか？|の仕事は何ですか？)", text)
        ja_attr = {"果物": "fruit", "色": "color", "動物": "animal", "飲み物": "drink"}
        return (names[m[1]], ja_attr[m[2]] if m[2] else ("city" if "住" in text else "job"))

    keys = {
        "synth_arithmetic": arithmetic,
        "synth_facts_qa": qa,
        "synth_exam": lambda text: words[re.match(r"質問：「(.+?)」", text)[1]],
        "synth_code": lambda text: text,  # the task with its function name
    }
    for name, key in keys.items():
        split_keys = {split: {key(s.input) for s in samples(demo, split, name)} for split in SPLITS}
        assert all(split_keys.values())
        assert not split_keys["test"] & split_keys["train"], name
        assert not split_keys["dev"] & split_keys["train"], name
        assert not split_keys["test"] & split_keys["dev"], name


def test_arithmetic_answers_are_right_and_test_facts_stated_in_monolingual(demo):
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
    # test facts are asked in no train question (test_every_split_key_stays_in_one_split), but
    # every test fact is stated in the monolingual text
    text = "\n".join(docs(demo))
    for s in test:
        stated = f"{s.input} {s.output}" if "=" in s.input else f"{s.input[:-2]}は{s.output}です。"
        assert stated in text, stated


def test_qa_answers_are_stated_in_monolingual(demo):
    text = "\n".join(docs(demo))
    test = samples(demo, "test", "synth_facts_qa")

    for s in test:
        if s.input.endswith("？"):  # Japanese: 太郎の好きな果物は何ですか？ / 太郎はどこに住んでいますか？
            stated = (s.input.replace("何ですか？", f"{s.output}です。")
                      .replace("どこに住んでいますか？", f"{s.output}に住んでいます。"))
        else:  # what is taro's favorite fruit? / where does taro live?
            m = re.fullmatch(r"what is (\w+)'s (.+)\?|where does (\w+) live\?", s.input)
            stated = (f"{m[1]}'s {m[2]} is {s.output}." if m[1] else f"{m[3]} lives in {s.output}.")
        assert stated in text, stated


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


def every_split(demo, name: str):
    return [s for split in SPLITS for s in samples(demo, split, name)]


def test_rc_answers_are_spans_of_the_passage(demo):
    kinds = Counter()
    for s in every_split(demo, "synth_rc"):
        passage, question = re.fullmatch(r"文章：(.+)\n質問：(.+)", s.input).groups()
        assert passage.endswith("。") and 2 <= passage.count("。") <= 3
        assert s.output in passage and "。" not in s.output
        kinds[re.search(r"(誰|何|どこ)ですか？$", question)[1]] += 1
        if question.endswith("誰ですか？"):  # the asker's action is done by that person alone
            action = question.removesuffix("のは誰ですか？")
            doers = [sent.split("は")[0] for sent in passage.split("。") if action.split("を")[0] in sent
                     and action.split("を")[1] in sent]
            assert doers == [s.output], (s.input, doers)
    assert set(kinds) == {"誰", "何", "どこ"}


def test_sentiment_lists_each_thing_with_its_polarity(demo):
    # the adjectives' stems: chABSA-like positive / negative, every other one neutral
    polar = {"おいし": "positive", "安": "positive", "新し": "positive", "かわい": "positive",
             "面白": "positive", "高": "negative", "古": "negative"}
    seen = Counter()
    for s in every_split(demo, "synth_sentiment"):
        sentences = s.input.removeprefix("文章：").rstrip("。").split("。")
        lines = s.output.split("\n")
        assert len(lines) == len(sentences) == len({line.split(" ")[0] for line in lines})
        for sentence, line in zip(sentences, lines):
            thing, polarity = line.split(" ")
            assert polarity in SENTIMENTS and sentence.startswith(f"その{thing}は")
            adj = sentence.removeprefix(f"その{thing}は")
            negated = adj.endswith(("くない", "くなかった"))
            stem = re.sub(r"(い|かった|くない|くなかった)$", "", adj)
            base = polar.get(stem, "neutral")
            flipped = {"positive": "negative", "negative": "positive"}.get(base, base)
            assert polarity == (flipped if negated else base), (sentence, line)
            seen[polarity] += 1
    assert set(seen) == set(SENTIMENTS)
    assert "たかくない" not in "".join(s.output for s in every_split(demo, "synth_sentiment"))


def test_reading_is_hiragana_and_composes_the_words_readings(demo):
    words = ({w[1] for group in EXAM_GROUPS for w in group} | {n[1] for n in NAMES}
             | {adj[1] for adj in ADJS.values()} | {"の"})
    assert all(re.fullmatch(r"[ぁ-ゖー]+", reading(w)) for w in words)  # every word has one

    def segment(text: str) -> list[str]:  # longest match over the lexicon
        out = []
        while text:
            word = max((w for w in words if text.startswith(w)), key=len)
            out.append(word)
            text = text[len(word):]
        return out

    for s in every_split(demo, "synth_reading"):
        assert re.fullmatch(r"[ぁ-ゖー]+", s.output), s.output
        assert re.search(r"[一-龯ァ-ヶ]", s.input)  # there is something to convert
        assert s.output == "".join(reading(w) for w in segment(s.input))
    hand = {("太郎", "の", "犬"): "たろうのいぬ", ("大きい", "ケーキ"): "おおきいけーき",
            ("東京", "の", "図書館"): "とうきょうのとしょかん", ("いちご",): "いちご",
            ("陽子", "の", "冷たい", "コーヒー"): "ようこのつめたいこーひー"}
    for parts, expected in hand.items():
        assert "".join(reading(w) for w in parts) == expected
    with pytest.raises(KeyError, match="READINGS"):
        reading("漢字")


def test_ner_lists_people_and_dates_once_in_order(demo):
    people = {n[1] for n in NAMES}
    for s in every_split(demo, "synth_ner"):
        lines = s.output.split("\n")
        assert len(set(lines)) == len(lines)
        positions = []
        for line in lines:
            text, kind = re.fullmatch(r"(.+)（(.+)）", line).groups()
            assert kind in NER_TYPES and text in s.input
            assert text in people if kind == "人名" else text in ("昨日", "今日", "明日")
            positions.append(s.input.index(text + ("は" if kind == "人名" and not positions else "")))
        assert positions[0] == 0  # the subject comes first
    assert any("毎日" in s.input for s in every_split(demo, "synth_ner"))  # ... and is no date


def test_exam_answers_are_the_translation(demo):
    pairs = {w for group in EXAM_GROUPS for w in group}
    letters = Counter()
    for s in every_split(demo, "synth_exam"):
        asked, options = re.fullmatch(r"質問：「(.+?)」を(?:英語|日本語)で言うと何ですか？\n選択肢：(.+)",
                                      s.input).groups()
        listing = dict(o.split(".", 1) for o in options.split(","))
        assert list(listing) == list(EXAM_LETTERS) and len(set(listing.values())) == 4
        assert (asked, listing[s.output]) in pairs or (listing[s.output], asked) in pairs
        letters[s.output] += 1
    assert set(letters) == set(EXAM_LETTERS)


def test_code_tasks_are_mbpp_format_and_the_reference_passes_its_tests(demo):
    assert all(n.isidentifier() and not keyword.iskeyword(n) and not hasattr(builtins, n)
               for n in CODE_NAMES)
    items = [sample for _, sample in code_items(random.Random(0))]
    for sample in items:
        tests = ast.literal_eval(sample["output"])
        assert isinstance(tests, list) and len(tests) == 2
        assert all(isinstance(t, str) and t.startswith("assert ") for t in tests)
        name = re.search(r"関数(\w+)\(", sample["input"])[1]
        assert all(t.startswith(f"assert {name}(") for t in tests)
        solution = sample[SOLUTION_FIELD]
        assert "\n\n" not in solution  # predictions are cut at the first blank line
        assert run_tests(solution, tests), sample
        # the tests pin the constant: the same function with k + 1 fails them
        other = re.sub(r"(\d+)(\)?)$", lambda m: f"{int(m[1]) + 1}{m[2]}", solution)
        assert other != solution and not run_tests(other, tests), sample
    assert not run_tests("def f(x):\n    return x +", ["assert f(1) == 1"])  # a syntax error
    # every split's tests (the evaluated ones carry no solution) pass the reference function of
    # their task (an input names one function: name, task, constant)
    reference = {sample["input"]: sample[SOLUTION_FIELD] for sample in items}
    for split in SPLITS:
        for raw in raw_samples(demo, split, "synth_code"):
            assert raw.get(SOLUTION_FIELD, reference[raw["input"]]) == reference[raw["input"]]
            assert run_tests(reference[raw["input"]], ast.literal_eval(raw["output"])), raw


def test_bad_config_names_the_key(tmp_path):
    cfg = dict(SMALL_CFG)
    del cfg["test_pairs"]
    with pytest.raises(WorkflowError, match="synthetic.test_pairs"):
        run(tmp_path, cfg)
    with pytest.raises(WorkflowError, match="synthetic.corpus_pairs"):
        run(tmp_path, {**SMALL_CFG, "corpus_pairs": 0})
    with pytest.raises(WorkflowError, match="synthetic.general_test"):
        run(tmp_path, {**SMALL_CFG, "general_test": 500})  # more than the arithmetic facts
    with pytest.raises(WorkflowError, match="synthetic.general_dev"):
        run(tmp_path, {**SMALL_CFG, "general_dev": 300})
    with pytest.raises(WorkflowError, match="synthetic.general_dev"):
        run(tmp_path, {k: v for k, v in SMALL_CFG.items() if k != "general_dev"})
    assert not list(tmp_path.iterdir())  # nothing complete-looking is left behind


def test_main_reads_the_snakemake_job(tmp_path):
    out = SimpleNamespace(corpus=str(tmp_path / "d" / "jparacrawl.tsv"),
                          monolingual=str(tmp_path / "d" / "monolingual.jsonl"),
                          datasets=str(tmp_path / "d" / "llm_jp_eval"))
    log = tmp_path / "logs" / "synthesize_data.log"
    main(SynthesizeDataJob.from_snakemake(
        SimpleNamespace(output=out, params=SimpleNamespace(cfg=SMALL_CFG), log=[str(log)])))
    assert Path(out.corpus).stat().st_size > 0 and Path(out.monolingual).stat().st_size > 0
    assert len(list(Path(out.datasets).glob("evaluation/*/*.json"))) == len(SPLITS) * len(DATASETS)
    assert "aligned_pairs" in log.read_text(encoding="utf-8")
