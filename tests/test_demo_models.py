"""demo_models: the byte-level BPE round-trips any text; the demo texts hold every monolingual
document and every named train sample in the llm-jp-eval prompt form."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from tokenizers import Tokenizer
from transformers import AutoTokenizer

from wasurenai.common import WorkflowError
from wasurenai.demo_models import (
    build_demo_texts, dataset_texts, main_texts, main_tokenizer, tokenizer_texts, train_tokenizer,
    tsv_texts,
)
from wasurenai.jobs import DemoTextsJob, DemoTokenizerJob
from wasurenai.llm_jp_eval import PREAMBLE, build_prompt, dataset_path
from wasurenai.synthetic import SOLUTION_FIELD, split_dir

HARD = [
    "猫が魚を食べました。\n\n### 応答:\n三匹",
    "  leading spaces, tabs\tand trailing newline\n",
    "東京は日本の首都です。Tokyo is the capital of Japan.",
    "未知の漢字「鬱」と絵文字😀とé",  # characters never seen in training
    "\r\n\n\n",
]


def corpus_texts(n: int = 300) -> list[str]:
    return [f"私は{i}個のりんごを食べた。\nI ate {i} apples." for i in range(n)]


def write_dataset(root, split, name, samples, instruction="質問に答えてください。"):
    """A dataset JSON in llm-jp-eval's layout, root/evaluation/<split>/<name>.json; a sample is
    (input, output) or (input, output, solution)."""
    path = dataset_path(split_dir(root, split), name)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [dict(zip(("input", "output", SOLUTION_FIELD), s)) for s in samples]
    path.write_text(json.dumps({
        "instruction": instruction, "output_length": 8, "metrics": ["exact_match"],
        "few_shots": [], "samples": rows,
    }, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.fixture
def inputs(tmp_path):
    mono = tmp_path / "mono.jsonl"
    docs = ["吾輩は猫である。", "The cat sat.", "名前はまだ無い。\n改行あり"]
    mono.write_text("".join(json.dumps({"text": d}, ensure_ascii=False) + "\n" for d in docs),
                    encoding="utf-8")
    ds = tmp_path / "llm_jp_eval"
    write_dataset(ds, "train", "qa", [(f"{i}+1は?", str(i + 1)) for i in range(6)])
    write_dataset(ds, "train", "mt", [(f"犬{i}", f"dog {i}") for i in range(4)], "翻訳してください。")
    write_dataset(ds, "test", "qa", [("秘密のテスト入力", "42")])
    return SimpleNamespace(mono=mono, docs=docs, ds=ds, train=split_dir(ds, "train"))


def test_tokenizer_round_trips_japanese_and_newlines_exactly(tmp_path):
    out = tmp_path / "tok"
    train_tokenizer(corpus_texts(), 400, out)
    fast = AutoTokenizer.from_pretrained(out)
    raw = Tokenizer.from_file(str(out / "tokenizer.json"))
    assert len(fast) == 400
    assert (fast.eos_token, fast.pad_token, fast.bos_token, fast.unk_token) == ("</s>", "<pad>", "<s>", "<unk>")
    for text in HARD:
        ids = fast(text)["input_ids"]
        assert fast.unk_token_id not in ids
        assert fast.decode(ids) == text
        assert raw.decode(raw.encode(text).ids) == text
        assert ids == raw.encode(text).ids  # no special tokens added: packing appends EOS
    # learned merges: Japanese text takes fewer tokens than its UTF-8 bytes
    assert len(fast("私は12個のりんごを食べた。")["input_ids"]) < len("私は12個のりんごを食べた。".encode()) / 2


def test_tokenizer_is_deterministic_and_rejects_a_tiny_vocab(tmp_path):
    train_tokenizer(corpus_texts(), 350, tmp_path / "a")
    train_tokenizer(corpus_texts(), 350, tmp_path / "b")
    assert (tmp_path / "a" / "tokenizer.json").read_bytes() == (tmp_path / "b" / "tokenizer.json").read_bytes()
    with pytest.raises(WorkflowError, match="vocab_size"):
        train_tokenizer(corpus_texts(), 100, tmp_path / "c")
    assert not (tmp_path / "c").exists()


def test_tsv_texts_use_both_sides_of_well_formed_lines_only(tmp_path):
    tsv = tmp_path / "c.tsv"
    tsv.write_bytes(
        b"a.com\tb.jp\t0.9\tHello.\t\xe3\x81\x93\xe3\x82\x93\xe3\x81\xab\xe3\x81\xa1\xe3\x81\xaf\n"
        b"a.com\tb.jp\t0.9\tonly four\n"
        b"a.com\tb.jp\t0.9\tBad bytes\t\xff\xfe\n"
        b"a.com\tb.jp\t0.7\tBye.\t\xe3\x81\xb0\xe3\x81\x84\r\n"
    )
    assert list(tsv_texts(tsv)) == ["Hello.", "こんにちは", "Bye.", "ばい"]


def test_tokenizer_entry_trains_on_all_three_inputs(inputs, tmp_path):
    tsv = tmp_path / "c.tsv"
    tsv.write_text("".join(f"x\ty\t0.9\tcat {i}\t猫{i}\n" for i in range(50)), encoding="utf-8")
    out = tmp_path / "tokenizer"
    smk = SimpleNamespace(
        input=SimpleNamespace(monolingual=str(inputs.mono), corpus=str(tsv), datasets=str(inputs.ds)),
        output=[str(out)], params=SimpleNamespace(vocab_size=300, train_dir=str(inputs.train)),
        log=[str(tmp_path / "t.log")],
    )
    main_tokenizer(DemoTokenizerJob.from_snakemake(smk))
    vocab = Tokenizer.from_file(str(out / "tokenizer.json")).get_vocab()
    prompt_frame = build_prompt("質問に答えてください。", [], "")
    assert len(vocab) == 300
    assert "cat" in vocab  # from the TSV
    texts = list(tokenizer_texts(inputs.mono, tsv, inputs.train))
    assert texts[:3] == inputs.docs and texts[3:5] == ["cat 0", "猫0"]
    assert prompt_frame in texts and "2+1は?" in texts and "dog 3" in texts
    assert "秘密のテスト入力" not in texts  # train split only


def test_demo_texts_hold_docs_and_every_train_sample_as_prompt_plus_answer(inputs):
    pretrain, instruct = build_demo_texts(inputs.mono, inputs.train, ["qa", "mt"], ["qa", "mt"], 2, seed=0)
    assert set(inputs.docs) <= set(pretrain)
    formatted = [t for t in pretrain if t.startswith(PREAMBLE)]
    assert len(pretrain) == 3 + 10 and len(formatted) == 10
    assert len(instruct) == 3 * 10 and all(t.startswith(PREAMBLE) for t in instruct)
    for i in range(6):  # each qa sample: its input in the last slot, its answer at the end
        assert any(t.endswith(f"### 入力:\n{i}+1は?\n\n### 応答:\n{i + 1}") for t in formatted)
    assert any("翻訳してください。" in t and t.endswith("dog 3") for t in formatted)
    shots = [t.count("### 入力:") - 1 for t in instruct]
    assert min(shots) >= 0 and max(shots) <= 2 and len(set(shots)) > 1  # varied few-shots
    assert not any("秘密のテスト入力" in t for t in pretrain + instruct)  # never the test split
    assert (pretrain, instruct) == build_demo_texts(inputs.mono, inputs.train, ["qa", "mt"], ["qa", "mt"], 2, seed=0)
    assert instruct != build_demo_texts(inputs.mono, inputs.train, ["qa", "mt"], ["qa", "mt"], 2, seed=1)[1]
    general_only = build_demo_texts(inputs.mono, inputs.train, ["qa", "mt"], ["qa"], 2, seed=0)[1]
    assert len(general_only) == 3 * 6 and not any("翻訳してください。" in t for t in general_only)
    with pytest.raises(WorkflowError, match="nope.json"):
        build_demo_texts(inputs.mono, inputs.train, ["qa", "nope"], [], 2, seed=0)


def test_demo_texts_entry_writes_text_jsonl(inputs, tmp_path):
    out = SimpleNamespace(pretrain=str(tmp_path / "p.jsonl"), instruct=str(tmp_path / "i.jsonl"))
    smk = SimpleNamespace(
        input=SimpleNamespace(monolingual=str(inputs.mono), datasets=str(inputs.ds)), output=out,
        params=SimpleNamespace(train_dir=str(inputs.train), pretrain_datasets=["qa"],
                               instruct_datasets=["qa"], num_few_shots=1, seed=0), log=[],
    )
    main_texts(DemoTextsJob.from_snakemake(smk))
    pretrain = [json.loads(line)["text"] for line in open(out.pretrain, encoding="utf-8")]
    instruct = [json.loads(line)["text"] for line in open(out.instruct, encoding="utf-8")]
    assert len(pretrain) == 3 + 6 and len(instruct) == 18
    assert "名前はまだ無い。\n改行あり" in pretrain


def test_a_solution_field_is_the_answer_and_is_tokenizer_text(inputs, tmp_path):
    """The synthetic CG set: shots show the tests (the output, as the evaluation prompt does),
    the answer taught is the solution."""
    tests = "['assert inc(1) == 2']"
    write_dataset(inputs.ds, "train", "code", [
        (f"task {i}", tests, f"def inc(x):\n    return x + {i}") for i in range(3)], "コードを書いて。")
    pretrain, instruct = build_demo_texts(inputs.mono, inputs.train, ["code"], ["code"], 2, seed=0)
    formatted = [t for t in pretrain if t.startswith(PREAMBLE)]
    assert len(formatted) == 3 and len(instruct) == 9
    for i in range(3):
        assert any(t.endswith(f"### 入力:\ntask {i}\n\n### 応答:\ndef inc(x):\n    return x + {i}")
                   for t in formatted)
    shots = [t for t in instruct if t.count("### 入力:") > 1]
    assert shots and all(f"### 応答:\n{tests}\n\n### 入力:" in t for t in shots)
    assert not any(t.endswith(tests) for t in pretrain + instruct)
    assert "def inc(x):\n    return x + 2" in list(dataset_texts(inputs.train))
    write_dataset(inputs.ds, "train", "bad", [("task", tests, 42)])
    with pytest.raises(WorkflowError, match=r"bad.json: samples\[0\].solution"):
        build_demo_texts(inputs.mono, inputs.train, ["bad"], [], 2, seed=0)
