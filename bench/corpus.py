"""Benchmark of the corpus stages: `python bench/corpus.py` from the repo root.

1. Throughput: packing (JSONL -> encode_batch + EOS -> windows -> .bin) against bare
   `Tokenizer.encode_batch` over the same texts already in memory. Goal: ratio >= 0.5.
2. Memory: peak RSS of packing a 10x larger corpus against the 1x corpus, each in a fresh
   subprocess (VmHWM from /proc/self/status). Goal: ratio <= 1.2 (streaming). The same is
   reported for prepare_corpus, whose de-duplication keeps one 8-byte digest per distinct
   pair, so its memory grows (slowly) with the corpus; that ratio is informational.
Writes bench/results/corpus.json. Synthetic JParaCrawl-like text and a byte-level BPE like
the demo tokenizer (vocab 2000) are generated in a temporary directory.
"""
from __future__ import annotations

import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers  # noqa: E402
from transformers import PreTrainedTokenizerFast  # noqa: E402

from wasurenai.common import write_json  # noqa: E402
from wasurenai.corpus import format_pair  # noqa: E402
from wasurenai.packing import BATCH_SIZE, pack_tokens  # noqa: E402

DOCS_1X = 20_000  # prompt-formatted pairs in the 1x corpus; 10x has ten times as many
WINDOW = 256
REPEATS = 3
TEMPLATE = "### 指示:\n次の日本語を英語に翻訳してください。\n\n### 入力:\n{ja}\n\n### 応答:\n{en}"
CORPUS_CFG = {"pairs_per_direction": 3000, "min_pairs": 1000, "max_chars": 300, "min_score": 0.5,
              "seed": 0, "templates": {"ja-en": TEMPLATE}}

NOUNS = [("cat", "猫"), ("dog", "犬"), ("teacher", "先生"), ("student", "学生"), ("company", "会社"),
         ("city", "都市"), ("government", "政府"), ("book", "本"), ("river", "川"), ("child", "子供"),
         ("doctor", "医者"), ("station", "駅"), ("hotel", "ホテル"), ("museum", "博物館")]
VERBS = [("reads", "読みます"), ("visits", "訪れます"), ("likes", "好みます"), ("builds", "建てます"),
         ("finds", "見つけます"), ("opens", "開きます"), ("studies", "研究します")]
ADJS = [("new", "新しい"), ("old", "古い"), ("large", "大きい"), ("quiet", "静かな"), ("famous", "有名な")]
PLACES = [("Tokyo", "東京"), ("Kyoto", "京都"), ("Osaka", "大阪"), ("Sendai", "仙台"), ("Nara", "奈良")]
DOMAINS = ["example.com", "news.example.jp", "travel.example.org", "gov.example.go.jp"]


def sentence_pair(rng: random.Random, i: int) -> tuple[str, str]:
    """A JParaCrawl-like pair: one or two clauses, a number to keep pairs distinct."""
    clauses_en, clauses_ja = [], []
    for _ in range(rng.choice((1, 1, 2))):
        (a_en, a_ja), (n_en, n_ja), (v_en, v_ja), (o_en, o_ja), (p_en, p_ja) = (
            rng.choice(words) for words in (ADJS, NOUNS, VERBS, NOUNS, PLACES))
        clauses_en.append(f"the {a_en} {n_en} in {p_en} {v_en} the {o_en}")
        clauses_ja.append(f"{p_ja}の{a_ja}{n_ja}は{o_ja}を{v_ja}")
    en = f"In {1990 + i % 35}, " + ", and ".join(clauses_en) + f" ({i})."
    ja = f"{1990 + i % 35}年、" + "、そして".join(clauses_ja) + f"（{i}）。"
    return en, ja


def write_data(tmp: Path, n: int) -> tuple[Path, Path]:
    """A TSV of n lines (a few low-score / duplicate) and a JSONL of n prompt-formatted docs."""
    rng = random.Random(n)
    tsv, jsonl = tmp / f"corpus_{n}.tsv", tmp / f"text_{n}.jsonl"
    with open(tsv, "w", encoding="utf-8") as t, open(jsonl, "w", encoding="utf-8") as j:
        for i in range(n):
            en, ja = sentence_pair(rng, i if rng.random() > 0.02 else 0)
            domain_en, domain_ja, score = rng.choice(DOMAINS), rng.choice(DOMAINS), rng.uniform(0.3, 1)
            t.write(f"{domain_en}\t{domain_ja}\t{score:.3f}\t{en}\t{ja}\n")
            j.write(json.dumps({"text": format_pair(TEMPLATE, en, ja)}, ensure_ascii=False) + "\n")
    return tsv, jsonl


def build_tokenizer(tmp: Path) -> Path:
    rng = random.Random(0)
    texts = [format_pair(TEMPLATE, *sentence_pair(rng, i)) for i in range(2000)]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=2000, special_tokens=["<s>", "</s>", "<pad>", "<unk>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    out = tmp / "tokenizer"
    PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>",
                            pad_token="<pad>", unk_token="<unk>").save_pretrained(out)
    return out


def raw_encode_s(tokenizer_dir: Path, jsonl: Path) -> tuple[float, int]:
    """Seconds for bare encode_batch over the texts (in memory, same batches), and tokens."""
    tok = Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json"))
    texts = [json.loads(line)["text"] for line in open(jsonl, encoding="utf-8")]
    start = time.perf_counter()
    n_tokens = 0
    for i in range(0, len(texts), BATCH_SIZE):
        encodings = tok.encode_batch(texts[i:i + BATCH_SIZE], add_special_tokens=False)
        n_tokens += sum(len(e) for e in encodings)
    return time.perf_counter() - start, n_tokens


def pack_s(tokenizer_dir: Path, jsonl: Path, tmp: Path) -> tuple[float, dict]:
    start = time.perf_counter()
    meta = pack_tokens(jsonl, tokenizer_dir, tmp / "bench.bin", tmp / "bench.json", WINDOW)
    return time.perf_counter() - start, meta


CHILD = """
import json, sys, time
sys.path.insert(0, {scripts!r})
start = time.perf_counter()
if {stage!r} == "pack":
    from wasurenai.packing import pack_tokens
    pack_tokens({src!r}, {tokenizer!r}, {out!r} + ".bin", {out!r} + ".json", {window})
else:
    from wasurenai.corpus import prepare_corpus
    prepare_corpus({src!r}, "ja-en", {cfg!r}, {out!r} + ".jsonl", {out!r} + ".report.json")
wall_s = time.perf_counter() - start
# VmHWM: this process's own peak RSS (ru_maxrss can carry the parent's over fork + exec).
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({{"peak_rss_mib": int(hwm.split()[1]) / 1024, "wall_s": wall_s}}))
"""


def child_run(stage: str, src: Path, tokenizer_dir: Path, tmp: Path) -> dict:
    """Run one stage in a fresh interpreter; its own peak RSS (MiB) and wall time."""
    code = CHILD.format(scripts=str(REPO / "scripts"), stage=stage, src=str(src),
                        tokenizer=str(tokenizer_dir), out=str(tmp / f"child_{stage}"),
                        window=WINDOW, cfg=CORPUS_CFG)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="wasurenai-bench-") as tmp_name:
        tmp = Path(tmp_name)
        tokenizer_dir = build_tokenizer(tmp)
        tsv_1x, jsonl_1x = write_data(tmp, DOCS_1X)
        tsv_10x, jsonl_10x = write_data(tmp, 10 * DOCS_1X)

        raw_times, pack_times = [], []
        for _ in range(REPEATS):  # interleaved, best of REPEATS
            t, n_tokens = raw_encode_s(tokenizer_dir, jsonl_1x)
            raw_times.append(t)
            t, meta = pack_s(tokenizer_dir, jsonl_1x, tmp)
            pack_times.append(t)
        raw_tps = n_tokens / min(raw_times)
        pack_tps = n_tokens / min(pack_times)  # tokens encoded (incl. the dropped tail), no EOS

        memory = {}
        for stage, (src_1x, src_10x) in {"pack": (jsonl_1x, jsonl_10x),
                                         "prepare_corpus": (tsv_1x, tsv_10x)}.items():
            one = child_run(stage, src_1x, tokenizer_dir, tmp)
            ten = child_run(stage, src_10x, tokenizer_dir, tmp)
            memory[stage] = {"1x": one, "10x": ten,
                             "rss_ratio": ten["peak_rss_mib"] / one["peak_rss_mib"],
                             "time_ratio": ten["wall_s"] / one["wall_s"]}

    result = {
        "throughput": {
            "documents": DOCS_1X, "tokens": n_tokens, "window": WINDOW, "batch_size": BATCH_SIZE,
            "raw_encode_batch_tokens_per_s": raw_tps, "pack_tokens_per_s": pack_tps,
            "raw_s": raw_times, "pack_s": pack_times,
            "ratio": pack_tps / raw_tps, "goal": ">= 0.5",
        },
        "memory": {**memory, "documents_1x": DOCS_1X, "documents_10x": 10 * DOCS_1X,
                   "goal": "pack rss_ratio <= 1.2"},
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "TOKENIZERS_PARALLELISM": os.environ.get("TOKENIZERS_PARALLELISM", "(unset)")},
    }
    out = REPO / "bench" / "results" / "corpus.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json(out, result)
    print(f"pack throughput: {pack_tps:,.0f} tok/s vs raw encode_batch {raw_tps:,.0f} tok/s "
          f"-> ratio {result['throughput']['ratio']:.2f} (goal >= 0.5)")
    for stage, m in memory.items():
        goal = " (goal <= 1.2)" if stage == "pack" else " (info)"
        print(f"{stage} peak RSS: {m['1x']['peak_rss_mib']:.0f} MiB (1x) vs "
              f"{m['10x']['peak_rss_mib']:.0f} MiB (10x) -> ratio {m['rss_ratio']:.2f}{goal}")
    print(f"wrote {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
