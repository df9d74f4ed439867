"""Benchmark of the corpus stages: `python bench/corpus.py` from the repo root.

1. Throughput: packing (JSONL -> encode_batch + EOS -> windows -> .bin) against bare
   `Tokenizer.encode_batch` over the same texts already in memory. Goal: ratio >= 0.5.
2. Memory: peak RSS of packing a 10x larger corpus against the 1x corpus, each in a fresh
   subprocess (VmHWM from /proc/self/status). Goal: ratio <= 1.2 (streaming). The same is
   reported for prepare_corpus, whose de-duplication keeps one 8-byte digest per distinct
   pair, so its memory grows (slowly) with the corpus; that ratio is informational.
3. Cleaning: lines per CPU second of the cleaning pass (iter_clean_pairs) over the 10x TSV
   (a 3% share of crawl damage mixed in: swapped, copied, NUL, markup, out of proportion), against the
   cleaning of BASELINE_REV (before the script, control-character, markup, copy and
   length-ratio checks) on the same input, and both prepare_corpus runs' peak RSS.
   Goal: lines/s ratio >= 0.8, peak RSS ratio <= 1.1.
4. De-duplication memory at full JParaCrawl scale: the digest set for 25.7M distinct pairs.
Writes bench/results/corpus.json. Synthetic JParaCrawl-like text and a byte-level BPE like
the demo tokenizer (vocab 2000) are generated in a temporary directory.
"""
from __future__ import annotations

import importlib.util
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
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers  # noqa: E402
from transformers import PreTrainedTokenizerFast  # noqa: E402

from wasurenai.common import write_json  # noqa: E402
from wasurenai import corpus  # noqa: E402
from wasurenai.corpus import format_pair  # noqa: E402
from wasurenai.packing import BATCH_SIZE, pack_tokens  # noqa: E402

BASELINE_REV = "c6191b7"  # the cleaning before issue 12's checks
DOCS_1X = 20_000  # prompt-formatted pairs in the 1x corpus; 10x has ten times as many
WINDOW = 256
REPEATS = 3
CLEAN_REPEATS = 5
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


def damage(rng: random.Random, en: str, ja: str) -> tuple[str, str]:
    """A pair with one kind of crawl damage: swapped, copied, a control character, markup,
    or lengths out of proportion."""
    kind = rng.randrange(5)
    if kind == 0:
        return ja, en
    if kind == 1:
        return en, en
    if kind == 2:
        return en.replace(" ", "\x00", 1), ja
    if kind == 3:
        return en + "<br>", ja
    return en, ja[:2]


def write_data(tmp: Path, n: int) -> tuple[Path, Path]:
    """A TSV of n lines (a few low-score / duplicate / damaged) and a JSONL of n
    prompt-formatted docs."""
    rng = random.Random(n)
    tsv, jsonl = tmp / f"corpus_{n}.tsv", tmp / f"text_{n}.jsonl"
    with open(tsv, "w", encoding="utf-8") as t, open(jsonl, "w", encoding="utf-8") as j:
        for i in range(n):
            en, ja = sentence_pair(rng, i if rng.random() > 0.02 else 0)
            domain_en, domain_ja, score = rng.choice(DOMAINS), rng.choice(DOMAINS), rng.uniform(0.3, 1)
            line_en, line_ja = damage(rng, en, ja) if rng.random() < 0.03 else (en, ja)
            t.write(f"{domain_en}\t{domain_ja}\t{score:.3f}\t{line_en}\t{line_ja}\n")
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


def baseline_source() -> str | None:
    """corpus.py as it was at BASELINE_REV (None outside a git checkout)."""
    proc = subprocess.run(["git", "-C", str(REPO), "show", f"{BASELINE_REV}:scripts/wasurenai/corpus.py"],
                          capture_output=True, text=True)
    return proc.stdout if proc.returncode == 0 else None


def load_module(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def clean_s(module, tsv: Path) -> tuple[float, int, int]:
    """CPU seconds of one cleaning pass of ``module``'s iter_clean_pairs (this process's
    time, so other load on the machine counts less), lines read, pairs kept."""
    stats = module.CleanStats()
    start = time.process_time()
    for _ in module.iter_clean_pairs(tsv, max_chars=CORPUS_CFG["max_chars"],
                                     min_score=CORPUS_CFG["min_score"], stats=stats):
        pass
    return time.process_time() - start, stats.lines, stats.kept


CHILD = """
import importlib.util, json, sys, time
start = time.perf_counter()
if {stage!r} == "pack":
    from wasurenai.packing import pack_tokens
    pack_tokens({src!r}, {tokenizer!r}, {out!r} + ".bin", {out!r} + ".json", {window})
else:
    if {stage!r} == "prepare_corpus_baseline":
        spec = importlib.util.spec_from_file_location("corpus_baseline", {tmp!r} + "/corpus_baseline.py")
        baseline = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(baseline)
        prepare_corpus = baseline.prepare_corpus
    else:
        from wasurenai.corpus import prepare_corpus
    prepare_corpus({src!r}, "ja-en", {cfg!r}, {out!r} + ".jsonl", {out!r} + ".report.json")
wall_s = time.perf_counter() - start
# VmHWM: this process's own peak RSS (ru_maxrss can carry the parent's over fork + exec).
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({{"peak_rss_mib": int(hwm.split()[1]) / 1024, "wall_s": wall_s}}))
"""


JPARACRAWL_LINES = 25_740_000  # JParaCrawl v3.0 en-ja: 25.7M lines
DEDUP_CHILD = """
import random, sys
def hwm():
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")) / 1024
before = hwm()
rng = random.Random(0)
seen = set()
for _ in range({n}):  # the set iter_clean_pairs keeps: one 64-bit digest per distinct pair
    seen.add(rng.getrandbits(64))
print(before, hwm())
"""


def dedup_memory_mib(n: int = JPARACRAWL_LINES) -> dict:
    """Peak RSS of the de-duplication set for ``n`` distinct pairs (every line of the full
    JParaCrawl distinct: the worst case), in a fresh interpreter."""
    proc = subprocess.run([sys.executable, "-c", DEDUP_CHILD.format(n=n)], capture_output=True,
                          text=True, check=True)
    before, after = map(float, proc.stdout.split())
    return {"distinct_pairs": n, "set_mib": after - before, "bytes_per_pair": (after - before) * 2**20 / n}


def child_run(stage: str, src: Path, tokenizer_dir: Path, tmp: Path) -> dict:
    """Run one stage in a fresh interpreter; its own peak RSS (MiB) and wall time."""
    code = CHILD.format(stage=stage, src=str(src),
                        tokenizer=str(tokenizer_dir), out=str(tmp / f"child_{stage}"),
                        window=WINDOW, cfg=CORPUS_CFG, tmp=str(tmp))
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

        cleaning = None
        source = baseline_source()
        stages = {"pack": (jsonl_1x, jsonl_10x), "prepare_corpus": (tsv_1x, tsv_10x)}
        if source is not None:
            (tmp / "corpus_baseline.py").write_text(source, encoding="utf-8")
            baseline = load_module(tmp / "corpus_baseline.py")
            times, kept = {"baseline": [], "current": []}, {}
            for _ in range(CLEAN_REPEATS):  # interleaved, best of CLEAN_REPEATS
                for name, module in (("baseline", baseline), ("current", corpus)):
                    t, lines, kept[name] = clean_s(module, tsv_10x)
                    times[name].append(t)
            rate = {name: lines / min(ts) for name, ts in times.items()}
            cleaning = {
                "lines": lines, "baseline_kept": kept["baseline"], "current_kept": kept["current"],
                "baseline_rev": BASELINE_REV, "baseline_s": times["baseline"],
                "current_s": times["current"], "baseline_lines_per_s": rate["baseline"],
                "current_lines_per_s": rate["current"], "ratio": rate["current"] / rate["baseline"],
                "goal": "ratio >= 0.8, peak_rss_ratio <= 1.1",
            }
            stages["prepare_corpus_baseline"] = (tsv_1x, tsv_10x)

        memory = {}
        for stage, (src_1x, src_10x) in stages.items():
            one = child_run(stage, src_1x, tokenizer_dir, tmp)
            ten = child_run(stage, src_10x, tokenizer_dir, tmp)
            memory[stage] = {"1x": one, "10x": ten,
                             "rss_ratio": ten["peak_rss_mib"] / one["peak_rss_mib"],
                             "time_ratio": ten["wall_s"] / one["wall_s"]}
        if cleaning:
            cleaning["peak_rss_ratio"] = (memory["prepare_corpus"]["10x"]["peak_rss_mib"]
                                          / memory["prepare_corpus_baseline"]["10x"]["peak_rss_mib"])

    result = {
        "throughput": {
            "documents": DOCS_1X, "tokens": n_tokens, "window": WINDOW, "batch_size": BATCH_SIZE,
            "raw_encode_batch_tokens_per_s": raw_tps, "pack_tokens_per_s": pack_tps,
            "raw_s": raw_times, "pack_s": pack_times,
            "ratio": pack_tps / raw_tps, "goal": ">= 0.5",
        },
        "memory": {**memory, "documents_1x": DOCS_1X, "documents_10x": 10 * DOCS_1X,
                   "goal": "pack rss_ratio <= 1.2"},
        "cleaning": cleaning,
        "dedup_full_jparacrawl": dedup_memory_mib(),
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
    dedup = result["dedup_full_jparacrawl"]
    print(f"de-duplication of {dedup['distinct_pairs']:,} distinct pairs: {dedup['set_mib']:,.0f} MiB "
          f"({dedup['bytes_per_pair']:.0f} bytes a pair)")
    if cleaning:
        print(f"cleaning: {cleaning['current_lines_per_s']:,.0f} lines/s vs "
              f"{cleaning['baseline_lines_per_s']:,.0f} at {BASELINE_REV} -> ratio "
              f"{cleaning['ratio']:.2f} (goal >= 0.8); prepare_corpus peak RSS ratio "
              f"{cleaning['peak_rss_ratio']:.2f} (goal <= 1.1)")
    else:
        print(f"cleaning: no baseline ({BASELINE_REV} not in a git checkout here)")
    print(f"wrote {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
