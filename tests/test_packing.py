"""tokenize: documents + EOS packed into fixed windows, binary dtype, meta, load_packed."""
from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

from wasurenai.common import WorkflowError
from wasurenai.jobs import TokenizeJob
from wasurenai.packing import load_packed, main, pack_tokens, read_eos, token_dtype

SPECIALS = ["<s>", "</s>", "<pad>", "<unk>"]


def lines(n: int) -> list[str]:
    return [
        f"### 入力:\n猫{i}匹が魚を{i % 7}回食べました。\n\n### 応答:\n"
        f"{i} cats ate fish {i % 7} times." + " Yes!" * (i % 3)
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory):
    """A tiny byte-level BPE saved like the demo tokenizer (eos </s>), whose post-processor
    adds <s>: packing must not let it in."""
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(lines(300), trainer)
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 0)])
    out = tmp_path_factory.mktemp("tokenizer")
    PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
        unk_token="<unk>",
    ).save_pretrained(out)
    return out


def write_jsonl(path, texts):
    path.write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in texts),
                    encoding="utf-8")
    return path


def expected_stream(tokenizer_dir, texts):
    tok = Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json"))
    eos = tok.token_to_id("</s>")
    return [i for t in texts for i in tok.encode(t, add_special_tokens=False).ids + [eos]]


def test_documents_are_packed_with_eos_across_windows(tokenizer_dir, tmp_path):
    texts = lines(40)
    src = write_jsonl(tmp_path / "c.jsonl", texts)
    meta = pack_tokens(src, tokenizer_dir, tmp_path / "c.bin", tmp_path / "c.json", window=64,
                       batch_size=7)  # batches that do not line up with windows
    stream = expected_stream(tokenizer_dir, texts)
    n_windows = len(stream) // 64
    assert n_windows > 5 and len(stream) % 64  # documents span windows, a tail is dropped
    packed = load_packed(tmp_path / "c.bin", tmp_path / "c.json")
    assert packed.shape == (n_windows, 64) and packed.dtype == np.dtype("<u2")
    assert packed.reshape(-1).tolist() == stream[: n_windows * 64]
    assert 0 not in packed  # no <s> from the post-processor
    assert meta == json.loads((tmp_path / "c.json").read_text())
    assert meta["eos_id"] == 1 and meta["n_documents"] == 40 and meta["window"] == 64
    assert meta["n_windows"] == n_windows and meta["n_tokens"] == n_windows * 64
    assert meta["dropped_tail_tokens"] == len(stream) - n_windows * 64
    assert meta["dtype"] == "uint16" and meta["vocab_size"] == 400 and meta["source"] == str(src)
    assert (tmp_path / "c.bin").stat().st_size == n_windows * 64 * 2


def test_batch_size_does_not_change_the_binary(tokenizer_dir, tmp_path):
    src = write_jsonl(tmp_path / "c.jsonl", lines(30))
    binaries = set()
    for b in (1, 8, 1000):
        pack_tokens(src, tokenizer_dir, tmp_path / f"{b}.bin", tmp_path / f"{b}.json",
                    window=32, batch_size=b)
        binaries.add((tmp_path / f"{b}.bin").read_bytes())
    assert len(binaries) == 1


def test_dtype_follows_vocab_size():
    assert token_dtype(2000) == np.dtype("<u2") and token_dtype(65536) == np.dtype("<u2")
    assert token_dtype(65537) == np.dtype("<u4") and token_dtype(99_487) == np.dtype("<u4")


def test_eos_comes_from_tokenizer_config_or_special_tokens_map(tokenizer_dir, tmp_path):
    assert read_eos(tokenizer_dir) == "</s>"
    special = tmp_path / "special_tokens_map.json"
    special.write_text(json.dumps({"eos_token": {"content": "<e>"}}))
    assert read_eos(tmp_path) == "<e>"
    special.write_text("{}")
    with pytest.raises(WorkflowError, match="eos_token"):
        read_eos(tmp_path)


def test_bad_input_fails_naming_the_line_and_writes_nothing(tokenizer_dir, tmp_path):
    src = tmp_path / "bad.jsonl"
    src.write_text(json.dumps({"text": "ok"}) + "\n\n" + json.dumps({"txt": "no"}) + "\n")
    with pytest.raises(WorkflowError, match=r"bad\.jsonl:3"):
        pack_tokens(src, tokenizer_dir, tmp_path / "o.bin", tmp_path / "o.json", window=4)
    short = write_jsonl(tmp_path / "short.jsonl", ["猫"])
    with pytest.raises(WorkflowError, match="fewer than one window"):
        pack_tokens(short, tokenizer_dir, tmp_path / "o.bin", tmp_path / "o.json", window=64)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.jsonl", "short.jsonl"]


def test_load_packed_checks_the_size(tokenizer_dir, tmp_path):
    src = write_jsonl(tmp_path / "c.jsonl", lines(10))
    pack_tokens(src, tokenizer_dir, tmp_path / "c.bin", tmp_path / "c.json", window=16)
    with open(tmp_path / "c.bin", "ab") as fh:
        fh.write(b"\0\0")
    with pytest.raises(WorkflowError, match="bytes"):
        load_packed(tmp_path / "c.bin", tmp_path / "c.json")


def test_main_reads_the_snakemake_job(tokenizer_dir, tmp_path):
    src = write_jsonl(tmp_path / "ja-en.jsonl", lines(20))
    smk = SimpleNamespace(
        input=SimpleNamespace(text=str(src), tokenizer=str(tokenizer_dir)),
        output=SimpleNamespace(bin=str(tmp_path / "t" / "ja-en.bin"),
                               meta=str(tmp_path / "t" / "ja-en.json")),
        params=SimpleNamespace(window=32),
        log=[str(tmp_path / "tokenize.log")],
        threads=1,
    )
    main(TokenizeJob.from_snakemake(smk))
    assert load_packed(smk.output.bin, smk.output.meta).shape[1] == 32
    assert "windows of 32 tokens" in (tmp_path / "tokenize.log").read_text()
