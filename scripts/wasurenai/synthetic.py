"""The demo's synthetic data: a tiny, regular Japanese/English world.

One small bilingual lexicon (20 names, ~45 nouns, 16 i-adjectives, 12 verbs, 9 places, 4 time
words) and a handful of clause templates (English SVO, Japanese SOV with particles, no spaces)
generate thousands of distinct sentence pairs. The pool is unique on *both* sides, so every
English sentence has exactly one Japanese translation and vice versa. From that world:

* ``jparacrawl.tsv`` -- JParaCrawl v3 columns ``domain_en, domain_ja, score, english, japanese``:
  ``corpus_pairs`` aligned pairs scored 0.5-0.95, about 8 % more misaligned pairs scored below
  0.5 (what Bicleaner filters), and ``malformed_lines`` broken lines of every kind in
  ``MALFORMED_KINDS``.
* ``monolingual.jsonl`` -- ``{"text": ...}`` documents: ``monolingual_sentences`` single-language
  sentences, the fact base (people's favourite things, home town, job) in both languages, the
  categories of the nouns, all one-digit sums and differences, and ``pretrain_parallel_pairs``
  pairs in a loose bilingual form.
* ``llm_jp_eval/evaluation/{train,dev,test}/<name>.json`` -- llm-jp-eval's preprocessed layout
  (without its version level; ``split_dir``): one dataset in ``DATASETS`` per category of the
  paper, each with the metric llm-jp-eval uses there --

  - NLI ``synth_nli`` (JNLI-like premise / hypothesis): exact_match
  - QA ``synth_facts_qa`` (the fact base): char_f1
  - RC ``synth_rc`` (JSQuAD-like span extraction): char_f1
  - MC ``synth_choice`` (which word is a fruit ...): exact_match
  - EL ``synth_sentiment`` (chABSA-like, one thing per line): set_f1
  - FA ``synth_reading`` (wiki_reading-like): char_f1; ``synth_ner`` (wiki_ner-like, one
    entity per line): set_f1
  - MR ``synth_arithmetic`` (one-digit sums): exact_match
  - MT ``synth_mt_j_to_e``, ``synth_mt_e_to_j``: ALT's bleu, bert_score, comet_wmt22
  - HE ``synth_exam`` (JMMLU-like vocabulary exam): exact_match
  - CG ``synth_code`` (MBPP-like one-line functions): code_exec, pylint_check

  The test and dev splits (``general_test`` / ``general_dev`` samples; MT: ``test_pairs`` /
  ``general_dev`` held-out pairs) share no input with each other or with train; the QA,
  arithmetic, exam and code splits share no key either (fact, sum, word, function), so their
  test questions ask about facts no train question asks about (the facts are stated in the
  monolingual text, as an LLM's knowledge comes from pretraining). The MT test and dev pairs
  (different pairs per direction) occur in no training text: not in the TSV, the monolingual
  text, any train split, nor as a sentence of another dataset. CG train samples carry the
  reference function in an extra ``solution`` field (llm-jp-eval's loader ignores it); the
  evaluated splits are in mbpp's exact format.

Everything is drawn from ``random.Random`` streams seeded from ``cfg["seed"]``.
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from .common import WorkflowError, atomic_dir, atomic_open, get_logger
from .jobs import SynthesizeDataJob
from .llm_jp_eval import dataset_path

CFG_KEYS = (
    "seed", "corpus_pairs", "malformed_lines", "test_pairs", "general_train", "general_dev",
    "general_test", "monolingual_sentences", "pretrain_parallel_pairs",
)
MALFORMED_KINDS = ("columns", "empty", "invalid_utf8", "too_long", "duplicate", "bad_score")
LOW_SCORE_FRACTION = 0.08  # misaligned lines per aligned pair, scored below 0.5
NLI_LABELS = ("entailment", "contradiction", "neutral")

# ---------------------------------------------------------------------------------- lexicon
Word = tuple[str, str]  # (english, japanese)

NAMES: tuple[Word, ...] = (
    ("taro", "太郎"), ("hanako", "花子"), ("jiro", "次郎"), ("kenta", "健太"), ("misaki", "美咲"),
    ("shota", "翔太"), ("naoko", "直子"), ("daisuke", "大輔"), ("yumi", "由美"), ("yuko", "優子"),
    ("takuya", "拓也"), ("megumi", "恵"), ("hiroshi", "博"), ("makoto", "誠"), ("yoko", "陽子"),
    ("kazuya", "和也"), ("aya", "彩"), ("ken", "健"), ("mai", "舞"), ("riku", "陸"),
)
NOUNS: dict[str, tuple[Word, ...]] = {
    "fruit": (("apple", "りんご"), ("banana", "バナナ"), ("orange", "みかん"), ("grape", "ぶどう"),
              ("strawberry", "いちご")),
    "food": (("bread", "パン"), ("fish", "魚"), ("rice", "ご飯"), ("cake", "ケーキ"), ("egg", "卵"),
             ("meat", "肉")),
    "drink": (("water", "水"), ("tea", "お茶"), ("milk", "牛乳"), ("coffee", "コーヒー"),
              ("juice", "ジュース")),
    "reading": (("book", "本"), ("newspaper", "新聞"), ("letter", "手紙"), ("magazine", "雑誌")),
    "thing": (("car", "車"), ("bag", "かばん"), ("hat", "帽子"), ("pen", "ペン"), ("shirt", "シャツ"),
              ("umbrella", "傘"), ("bicycle", "自転車"), ("clock", "時計")),
    "animal": (("dog", "犬"), ("cat", "猫"), ("bird", "鳥"), ("horse", "馬"), ("rabbit", "うさぎ")),
}
# Words only the fact base and the multiple-choice questions use.
COLORS: tuple[Word, ...] = (("red", "赤"), ("blue", "青"), ("white", "白"), ("black", "黒"),
                            ("green", "緑"), ("yellow", "黄色"))
CITIES: tuple[Word, ...] = (("tokyo", "東京"), ("osaka", "大阪"), ("kyoto", "京都"),
                            ("sendai", "仙台"), ("sapporo", "札幌"), ("nagoya", "名古屋"))
JOBS: tuple[Word, ...] = (("teacher", "先生"), ("doctor", "医者"), ("student", "学生"),
                          ("singer", "歌手"), ("cook", "料理人"), ("farmer", "農家"))


@dataclass(frozen=True)
class Place:
    en: str
    ja: str
    prep: str  # "in" / "at"


PLACES = tuple(Place(*p) for p in (
    ("park", "公園", "in"), ("school", "学校", "at"), ("station", "駅", "at"),
    ("library", "図書館", "in"), ("shop", "店", "in"), ("house", "家", "in"),
    ("kitchen", "台所", "in"), ("garden", "庭", "in"), ("room", "部屋", "in"),
))

# i-adjectives: (english, japanese dictionary form); the Japanese conjugates regularly.
ADJS: dict[str, Word] = {en: (en, ja) for en, ja in (
    ("big", "大きい"), ("small", "小さい"), ("new", "新しい"), ("old", "古い"), ("red", "赤い"),
    ("blue", "青い"), ("white", "白い"), ("black", "黒い"), ("delicious", "おいしい"),
    ("cheap", "安い"), ("expensive", "高い"), ("cold", "冷たい"), ("hot", "熱い"), ("long", "長い"),
    ("cute", "かわいい"), ("interesting", "面白い"),
)}
ADJS_FOR = {
    "fruit": ("big", "small", "delicious", "cheap", "expensive"),
    "food": ("big", "small", "delicious", "cheap", "expensive"),
    "drink": ("cold", "hot", "delicious", "cheap", "expensive"),
    "reading": ("new", "old", "long", "interesting"),
    "thing": ("big", "small", "new", "old", "red", "blue", "white", "black", "cheap", "expensive"),
    "animal": ("big", "small", "white", "black", "cute"),
}


@dataclass(frozen=True)
class Verb:
    s: str        # english 3rd person present
    past: str
    base: str
    ja: str       # dictionary form (present and future)
    ja_past: str
    ja_neg: str
    ja_neg_past: str
    objects: tuple[str, ...] = ()  # noun classes or single nouns (english)


VERBS = {v.base: v for v in (
    Verb("eats", "ate", "eat", "食べる", "食べた", "食べない", "食べなかった", ("fruit", "food")),
    Verb("drinks", "drank", "drink", "飲む", "飲んだ", "飲まない", "飲まなかった", ("drink",)),
    Verb("reads", "read", "read", "読む", "読んだ", "読まない", "読まなかった", ("reading",)),
    Verb("writes", "wrote", "write", "書く", "書いた", "書かない", "書かなかった", ("letter",)),
    Verb("buys", "bought", "buy", "買う", "買った", "買わない", "買わなかった",
         ("fruit", "food", "drink", "reading", "thing")),
    Verb("sees", "saw", "see", "見る", "見た", "見ない", "見なかった", ("animal", "thing")),
    Verb("makes", "made", "make", "作る", "作った", "作らない", "作らなかった",
         ("cake", "bread", "rice", "juice")),
    Verb("washes", "washed", "wash", "洗う", "洗った", "洗わない", "洗わなかった",
         ("car", "hat", "shirt", "bicycle", "umbrella", "dog", "horse")),
    Verb("uses", "used", "use", "使う", "使った", "使わない", "使わなかった",
         ("pen", "bag", "umbrella", "bicycle", "car")),
    Verb("gives", "gave", "give", "あげる", "あげた", "あげない", "あげなかった",
         ("fruit", "food", "drink", "reading", "thing")),
    Verb("goes", "went", "go", "行く", "行った", "行かない", "行かなかった"),
    Verb("likes", "liked", "like", "好きだ", "好きだった", "好きではない", "好きではなかった",
         ("fruit", "food", "drink", "animal")),
)}
ACTION_VERBS = ("eat", "drink", "read", "write", "buy", "see", "make", "wash", "use")

EVERY_DAY, YESTERDAY, TODAY, TOMORROW = (
    ("every day", "毎日"), ("yesterday", "昨日"), ("today", "今日"), ("tomorrow", "明日"))
# tense -> time words it may take (None: no time word). Future needs "tomorrow", so that the
# Japanese dictionary form without a time word always means the present.
TENSE_TIMES = {
    "present": (None, EVERY_DAY), "neg": (None, EVERY_DAY),
    "past": (None, YESTERDAY, TODAY), "neg_past": (None, YESTERDAY, TODAY),
    "future": (TOMORROW,), "neg_future": (TOMORROW,),
}
TENSE_WEIGHTS = {"present": 3, "past": 3, "neg": 1.5, "neg_past": 1.5, "future": 1, "neg_future": 1}
STATE_TENSES = ("present", "past", "neg", "neg_past")
NOUN_CLASS = {noun: cls for cls, nouns in NOUNS.items() for noun in nouns}
ANIMATE = set(NOUNS["animal"])
EXIST_JA = {"いる": ("いる", "いた", "いない", "いなかった"), "ある": ("ある", "あった", "ない", "なかった")}


def _objects(verb: Verb) -> list[Word]:
    by_en = {n[0]: n for nouns in NOUNS.values() for n in nouns}
    out: list[Word] = []
    for item in verb.objects:
        out.extend(NOUNS[item] if item in NOUNS else (by_en[item],))
    return out


def _verb_en(verb: Verb, tense: str) -> str:
    return {
        "present": verb.s, "past": verb.past, "neg": f"does not {verb.base}",
        "neg_past": f"did not {verb.base}", "future": f"will {verb.base}",
        "neg_future": f"will not {verb.base}",
    }[tense]


def _verb_ja(verb: Verb, tense: str) -> str:
    return {
        "present": verb.ja, "future": verb.ja, "past": verb.ja_past, "neg": verb.ja_neg,
        "neg_future": verb.ja_neg, "neg_past": verb.ja_neg_past,
    }[tense]


def _adj_ja(adj: Word, tense: str) -> str:
    stem = adj[1][:-1]
    return {"present": adj[1], "past": stem + "かった", "neg": stem + "くない",
            "neg_past": stem + "くなかった"}[tense]


# ---------------------------------------------------------------------------------- clauses
@dataclass(frozen=True)
class Clause:
    """One sentence of the world. ``kind``: act (SVO with a verb), give, go, like,
    be (``noun`` is ``adj``), exist (``noun`` or ``subj`` is in ``place``)."""

    kind: str
    tense: str
    subj: Word | None = None
    verb: str | None = None
    noun: Word | None = None
    adj: Word | None = None
    place: Place | None = None
    time: Word | None = None
    comp: Word | None = None   # "with NAME" / NAMEと
    to: Word | None = None     # "to NAME" / NAMEに (give)
    owner: Word | None = None  # "NAME's NOUN" / NAMEのNOUN (be, exist)


def render(c: Clause) -> tuple[str, str]:
    """The clause as an (english, japanese) sentence pair."""
    if c.kind in ("be", "exist"):
        if c.noun is None:  # a person is somewhere
            en_subj, ja_subj = c.subj
        elif c.owner:
            en_subj, ja_subj = f"{c.owner[0]}'s {c.noun[0]}", f"{c.owner[1]}の{c.noun[1]}"
        else:
            en_subj, ja_subj = f"the {c.noun[0]}", f"その{c.noun[1]}"
        be = {"present": "is", "past": "was", "neg": "is not", "neg_past": "was not"}[c.tense]
        if c.kind == "be":
            return f"{en_subj} {be} {c.adj[0]}.", f"{ja_subj}は{_adj_ja(c.adj, c.tense)}。"
        forms = EXIST_JA["いる" if c.noun is None or c.noun in ANIMATE else "ある"]
        return (f"{en_subj} {be} {c.place.prep} the {c.place.en}.",
                f"{ja_subj}は{c.place.ja}に{forms[STATE_TENSES.index(c.tense)]}。")
    verb = VERBS[c.verb]
    en = [c.subj[0], _verb_en(verb, c.tense)]
    ja = c.subj[1] + "は" + (c.time[1] if c.time else "")
    if c.kind == "go":
        en += ["to the", c.place.en]
    else:
        en += ["the"] + ([c.adj[0]] if c.adj else []) + [c.noun[0]]
        ja += f"{c.place.ja}で" if c.place else ""
    en += ["to", c.to[0]] if c.to else []
    en += ["with", c.comp[0]] if c.comp else []
    en += [c.place.prep, "the", c.place.en] if c.place and c.kind != "go" else []
    en += [c.time[0]] if c.time else []
    ja += (f"{c.comp[1]}と" if c.comp else "") + (f"{c.to[1]}に" if c.to else "")
    if c.kind == "go":
        ja += f"{c.place.ja}に"
    else:
        ja += (c.adj[1] if c.adj else "") + c.noun[1] + ("が" if c.kind == "like" else "を")
    return " ".join(en) + ".", ja + _verb_ja(verb, c.tense) + "。"


def _other_name(rng: random.Random, *used: Word | None) -> Word:
    return rng.choice([n for n in NAMES if n not in used])


def _maybe_adj(rng: random.Random, noun: Word, p: float = 0.5) -> Word | None:
    return ADJS[rng.choice(ADJS_FOR[NOUN_CLASS[noun]])] if rng.random() < p else None


def random_action(rng: random.Random, tenses=tuple(TENSE_TIMES), n_mods: int | None = None,
                  kind: str | None = None) -> Clause:
    """A random act / give / go clause with up to two of place, time and companion."""
    kind = kind or rng.choices(("act", "give", "go"), weights=(7, 1.5, 1.5))[0]
    verb = {"act": None, "give": "give", "go": "go"}[kind] or rng.choice(ACTION_VERBS)
    tense = rng.choices(tenses, weights=[TENSE_WEIGHTS[t] for t in tenses])[0]
    subj = rng.choice(NAMES)
    noun = rng.choice(_objects(VERBS[verb])) if kind != "go" else None
    mods = ["place", "time"] + (["comp"] if kind != "give" else [])
    if n_mods is None:
        n_mods = rng.choices((0, 1, 2), weights=(35, 40, 25))[0]
    n_mods = min(n_mods, 1 if kind == "give" else 2)  # give also has "to NAME"
    if None in TENSE_TIMES[tense]:
        chosen = set(rng.sample(mods, n_mods))
    else:  # the future needs "tomorrow"
        chosen = {"time"} | set(rng.sample([m for m in mods if m != "time"], max(n_mods - 1, 0)))
    if kind == "go":
        chosen.add("place")
    times = [t for t in TENSE_TIMES[tense] if t]
    return Clause(
        kind, tense, subj=subj, verb=verb, noun=noun,
        adj=_maybe_adj(rng, noun) if noun else None,
        place=rng.choice(PLACES) if "place" in chosen else None,
        time=rng.choice(times) if "time" in chosen and times else None,
        comp=_other_name(rng, subj) if "comp" in chosen else None,
        to=_other_name(rng, subj) if kind == "give" else None,
    )


def random_clause(rng: random.Random) -> Clause:
    kind = rng.choices(("action", "like", "be", "exist"), weights=(75, 8, 10, 7))[0]
    if kind == "action":
        return random_action(rng)
    tense = rng.choice(STATE_TENSES)
    if kind == "like":
        noun = rng.choice(_objects(VERBS["like"]))
        return Clause("like", tense, subj=rng.choice(NAMES), verb="like", noun=noun,
                      adj=_maybe_adj(rng, noun, 0.3))
    owner = rng.choice(NAMES) if rng.random() < 0.5 else None
    noun = rng.choice([n for nouns in NOUNS.values() for n in nouns])
    if kind == "be":
        return Clause("be", tense, noun=noun, owner=owner, adj=_maybe_adj(rng, noun, 1.0))
    if rng.random() < 0.3:  # a person is somewhere
        return Clause("exist", tense, subj=rng.choice(NAMES), place=rng.choice(PLACES))
    return Clause("exist", tense, noun=noun, owner=owner, place=rng.choice(PLACES))


def generate_pairs(rng: random.Random, n: int, what: str = "synthetic.corpus_pairs"
                   ) -> list[tuple[str, str]]:
    """``n`` distinct (english, japanese) pairs; no English and no Japanese sentence repeats."""
    pairs: list[tuple[str, str]] = []
    seen_en: set[str] = set()
    seen_ja: set[str] = set()
    misses = 0
    while len(pairs) < n:
        if misses > 20_000:  # that many repeats in a row: the grammar is (nearly) exhausted
            raise WorkflowError(f"config key {what}: cannot generate {n} distinct sentence pairs "
                                f"(got {len(pairs)}); the synthetic grammar is too small")
        en, ja = render(random_clause(rng))
        misses += 1
        if en not in seen_en and ja not in seen_ja:
            misses = 0
            seen_en.add(en)
            seen_ja.add(ja)
            pairs.append((en, ja))
    return pairs


# ---------------------------------------------------------------------------------- facts
@dataclass(frozen=True)
class Attribute:
    key: str
    values: tuple[Word, ...]
    fact_en: str  # {name} {value}
    fact_ja: str
    question_en: str
    question_ja: str


ATTRIBUTES = (
    Attribute("fruit", NOUNS["fruit"], "{name}'s favorite fruit is {value}.",
              "{name}の好きな果物は{value}です。", "what is {name}'s favorite fruit?",
              "{name}の好きな果物は何ですか？"),
    Attribute("color", COLORS, "{name}'s favorite color is {value}.",
              "{name}の好きな色は{value}です。", "what is {name}'s favorite color?",
              "{name}の好きな色は何ですか？"),
    Attribute("animal", NOUNS["animal"], "{name}'s favorite animal is {value}.",
              "{name}の好きな動物は{value}です。", "what is {name}'s favorite animal?",
              "{name}の好きな動物は何ですか？"),
    Attribute("drink", NOUNS["drink"], "{name}'s favorite drink is {value}.",
              "{name}の好きな飲み物は{value}です。", "what is {name}'s favorite drink?",
              "{name}の好きな飲み物は何ですか？"),
    Attribute("city", CITIES, "{name} lives in {value}.", "{name}は{value}に住んでいます。",
              "where does {name} live?", "{name}はどこに住んでいますか？"),
    Attribute("job", JOBS, "{name}'s job is {value}.", "{name}の仕事は{value}です。",
              "what is {name}'s job?", "{name}の仕事は何ですか？"),
)

# Multiple-choice categories: (english, japanese, members, group). Distractors come from
# other groups only, so no wrong option is arguably right (a city is a place, juice is food).
CATEGORIES: tuple[tuple[str, str, tuple[Word, ...], str], ...] = (
    ("fruit", "果物", NOUNS["fruit"], "edible"),
    ("food", "食べ物", NOUNS["fruit"] + NOUNS["food"], "edible"),
    ("drink", "飲み物", NOUNS["drink"], "edible"),
    ("reading material", "読み物", NOUNS["reading"], "reading"),
    ("animal", "動物", NOUNS["animal"], "animal"),
    ("place", "場所", tuple((p.en, p.ja) for p in PLACES), "location"),
    ("city", "町", CITIES, "location"),
    ("color", "色", COLORS, "color"),
    ("job", "仕事", JOBS, "job"),
)


def make_facts(rng: random.Random) -> dict[tuple[Word, str], Word]:
    """The fact base: (person, attribute key) -> value."""
    return {(name, a.key): rng.choice(a.values) for name in NAMES for a in ATTRIBUTES}


def fact_sentences(facts: dict, lang: int) -> dict[Word, list[str]]:
    """Per person, the fact statements in one language (0 = english, 1 = japanese)."""
    attrs = {a.key: a for a in ATTRIBUTES}
    out: dict[Word, list[str]] = {}
    for (name, key), value in facts.items():
        template = (attrs[key].fact_en, attrs[key].fact_ja)[lang]
        out.setdefault(name, []).append(template.format(name=name[lang], value=value[lang]))
    return out


def arithmetic_facts() -> list[tuple[str, str, str, str]]:
    """Every one-digit sum and its inverse difference: (key, symbolic, japanese, answer)."""
    out = []
    for a in range(10):
        for b in range(10):
            out.append((f"{a}+{b}", f"{a} + {b} =", f"{a}たす{b}は？", str(a + b)))
            out.append((f"{a + b}-{b}", f"{a + b} - {b} =", f"{a + b}ひく{b}は？", str(a)))
    return out


# ---------------------------------------------------------------------------------- world
@dataclass
class World:
    test: dict[str, list[tuple[str, str]]]  # direction -> held-out (en, ja) pairs, test split
    corpus: list[tuple[str, str]]           # aligned pairs of the TSV
    extra: list[tuple[str, str]]            # pairs only the monolingual text uses
    misaligned: list[tuple[str, str]]       # low-score TSV lines
    facts: dict
    dev: dict[str, list[tuple[str, str]]]   # direction -> held-out (en, ja) pairs, dev split

    @property
    def held_out(self) -> set[str]:
        """Every sentence (either language) of the held-out pairs (test and dev)."""
        return {s for split in (self.test, self.dev) for pairs in split.values()
                for pair in pairs for s in pair}


def check_cfg(cfg: dict) -> dict:
    missing = [k for k in CFG_KEYS if k not in cfg]
    if missing:
        raise WorkflowError(f"config key synthetic.{missing[0]}: missing")
    for key in CFG_KEYS:
        value = cfg[key]
        low = 0 if key in ("seed", "malformed_lines", "pretrain_parallel_pairs") else 1
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise WorkflowError(f"config key synthetic.{key}: must be an integer >= {low}, "
                                f"got {value!r}")
    return cfg


def _rng(cfg: dict, stream: str) -> random.Random:
    return random.Random(f"{cfg['seed']}:{stream}")


def build_world(cfg: dict) -> World:
    check_cfg(cfg)
    n_test, n_corpus = cfg["test_pairs"], cfg["corpus_pairs"]
    n_low = round(LOW_SCORE_FRACTION * n_corpus)
    n_extra = max(cfg["monolingual_sentences"] // 2, 2 * n_low, 2)
    n_dev = cfg["general_dev"]
    # the dev pairs come last, so the test pairs and the corpus do not depend on general_dev
    pool = generate_pairs(_rng(cfg, "pairs"), 2 * n_test + n_corpus + n_extra + 2 * n_dev)
    test = {"ja-en": pool[:n_test], "en-ja": pool[n_test:2 * n_test]}
    corpus = pool[2 * n_test:2 * n_test + n_corpus]
    extra = pool[2 * n_test + n_corpus:2 * n_test + n_corpus + n_extra]
    dev_pool = pool[2 * n_test + n_corpus + n_extra:]
    dev = {"ja-en": dev_pool[:n_dev], "en-ja": dev_pool[n_dev:]}
    # English of one extra pair with the Japanese of another: what a low score flags.
    misaligned = [(extra[i][0], extra[(i + 1) % len(extra)][1]) for i in range(n_low)]
    return World(test, corpus, extra, misaligned, make_facts(_rng(cfg, "facts")), dev)


# ---------------------------------------------------------------------------------- TSV
DOMAINS = tuple((f"www.{d}.com", f"www.{d}.jp") for d in (
    "tabi-nikki", "sakura-news", "kyoto-guide", "ryori-blog", "manabu-eigo", "machi-info",
    "hon-review", "doubutsu-zukan"))


def _tsv_line(rng: random.Random, en: str, ja: str, score: float | str) -> bytes:
    dom_en, dom_ja = rng.choice(DOMAINS)
    score = score if isinstance(score, str) else f"{score:.3f}"
    return f"{dom_en}\t{dom_ja}\t{score}\t{en}\t{ja}\n".encode()


def _malformed(rng: random.Random, kind: str, pairs: list[tuple[str, str]],
               lines: list[bytes], src: int) -> bytes:
    en, ja = rng.choice(pairs)
    if kind == "columns":
        line = _tsv_line(rng, en, ja, 0.8).rstrip(b"\n").split(b"\t")
        variant = rng.randrange(3)
        if variant == 0:
            line = line[2:]                                    # domains missing
        elif variant == 1:
            line = line[:3] + [line[3] + b" ||| " + line[4]]   # sides in one column
        else:
            line = line + [b"extra"]                           # a sixth column
        return b"\t".join(line) + b"\n"
    if kind == "empty":
        return _tsv_line(rng, *((rng.choice(["", "  "]), ja) if rng.random() < 0.5
                                else (en, rng.choice(["", " "]))), 0.8)
    if kind == "invalid_utf8":
        bad = ja.encode()[:-1] if rng.random() < 0.5 else ja.encode() + b"\xff\xfe"
        return _tsv_line(rng, en, "@@", 0.8).replace("@@".encode(), bad)
    if kind == "too_long":
        chunk = rng.sample(pairs, min(len(pairs), 40))
        long_en = " ".join(p[0] for p in chunk)
        while len(long_en) < 1000:
            long_en += " " + long_en
        return _tsv_line(rng, long_en, "".join(p[1] for p in chunk), 0.8)
    if kind == "duplicate":
        line = lines[src]
        if rng.random() < 0.5:  # the same pair with different spacing
            cols = line.decode().rstrip("\n").split("\t")
            cols[3] = "  " + cols[3].replace(" ", "  ", 1) + " "
            line = ("\t".join(cols) + "\n").encode()
        return line
    if kind == "bad_score":
        return _tsv_line(rng, en, ja, rng.choice(["nan", "n/a", "", "0,8"]))
    raise ValueError(kind)


def corpus_lines(world: World, cfg: dict) -> list[bytes]:
    """The TSV's lines: aligned and misaligned pairs in random order, broken lines mixed in."""
    rng = _rng(cfg, "tsv")
    lines = [_tsv_line(rng, en, ja, rng.uniform(0.5, 0.95)) for en, ja in world.corpus]
    lines += [_tsv_line(rng, en, ja, rng.uniform(0.05, 0.45)) for en, ja in world.misaligned]
    rng.shuffle(lines)
    keyed = [(float(i), line) for i, line in enumerate(lines)]
    for k in range(cfg["malformed_lines"]):
        kind = MALFORMED_KINDS[k % len(MALFORMED_KINDS)]
        src = rng.randrange(len(lines))
        # a duplicate goes after its original; other broken lines anywhere
        lo = src + 0.5 if kind == "duplicate" else -1.0
        pos = rng.uniform(lo, len(lines))
        keyed.append((pos, _malformed(rng, kind, world.corpus, lines, src)))
    keyed.sort(key=lambda item: item[0])
    return [line for _, line in keyed]


# ---------------------------------------------------------------------------------- monolingual
def _chunks(rng: random.Random, items: list[str], lo: int, hi: int, sep: str) -> list[str]:
    docs, i = [], 0
    while i < len(items):
        n = rng.randint(lo, hi)
        docs.append(sep.join(items[i:i + n]))
        i += n
    return docs


LOOSE_FORMS = (
    "{en}\n{ja}", "{ja}\n{en}", "英語: {en}\n日本語: {ja}", "日本語: {ja}\n英語: {en}",
    "「{ja}」は英語で「{en}」です。", "{en} ({ja})",
)


def monolingual_docs(world: World, cfg: dict) -> list[str]:
    """The base pretraining text: sentences, the fact base, categories, arithmetic, a little
    parallel text. Never contains a held-out sentence."""
    rng = _rng(cfg, "monolingual")
    pairs = world.corpus + world.extra
    picks = rng.sample(range(2 * len(pairs)), min(cfg["monolingual_sentences"], 2 * len(pairs)))
    en = [pairs[i // 2][0] for i in picks if i % 2 == 0]
    ja = [pairs[i // 2][1] for i in picks if i % 2 == 1]
    docs = _chunks(rng, en, 1, 4, " ") + _chunks(rng, ja, 1, 4, "")
    for lang, sep in ((0, " "), (1, "")):  # each person's profile, three times in new orders
        for sentences in fact_sentences(world.facts, lang).values():
            for _ in range(3):
                docs.append(sep.join(rng.sample(sentences, len(sentences))))
    kinds = [(f"{w[0]} is a kind of {cat_en}.", f"{w[1]}は{cat_ja}です。")
             for cat_en, cat_ja, members, _ in CATEGORIES for w in members]
    for lang, sep in ((0, " "), (1, "")):
        for _ in range(2):
            docs += _chunks(rng, rng.sample([k[lang] for k in kinds], len(kinds)), 3, 6, sep)
    sums = [(f"{sym} {ans}", f"{ja[:-1]}{ans}です。") for _, sym, ja, ans in arithmetic_facts()]
    for lang in (0, 1):
        for _ in range(2):
            docs += _chunks(rng, rng.sample([s[lang] for s in sums], len(sums)), 4, 6, "\n")
    n_parallel = min(cfg["pretrain_parallel_pairs"], len(world.corpus))
    for en_s, ja_s in rng.sample(world.corpus, n_parallel):
        docs.append(rng.choice(LOOSE_FORMS).format(en=en_s, ja=ja_s))
    rng.shuffle(docs)
    return docs


# ---------------------------------------------------------------------------------- datasets
# llm-jp-eval's preprocessed layout: its preprocess writes <out>/<version>/evaluation/
# {train,dev,test}/<name>.json; a synthesized root holds evaluation/... (no version level).
SPLITS = ("train", "dev", "test")
HELD_OUT = (("test", "general_test"), ("dev", "general_dev"))  # split, its size key
SOLUTION_FIELD = "solution"  # CG train samples only: the reference code the demo texts teach


def split_dir(root: str | Path, split: str) -> Path:
    """One split's directory under a synthesized dataset root: ``root/evaluation/split``."""
    return Path(root) / "evaluation" / split


@dataclass(frozen=True)
class Spec:
    instruction: str
    output_length: int
    metrics: tuple[str, ...]
    label_list: tuple[str, ...] = ()


SENTIMENTS = ("positive", "neutral", "negative")
NER_TYPES = ("人名", "日付表現")
EXAM_LETTERS = ("A", "B", "C", "D")

DATASETS = {
    "synth_nli": Spec("前提と仮説の関係をentailment、contradiction、neutralの中から回答してください。"
                      "それ以外には何も含めないことを厳守してください。", 12, ("exact_match",),
                      NLI_LABELS),
    "synth_facts_qa": Spec("質問に対する答えを出力してください。"
                           "答えの他には何も含めないことを厳守してください。", 12, ("char_f1",)),
    "synth_rc": Spec("質問に対する回答を文章から一言で抽出してください。回答は名詞で答えてください。"
                     "それ以外には何も含めないことを厳守してください。", 10, ("char_f1",)),
    "synth_choice": Spec("質問と回答の選択肢を入力として受け付け、選択肢から回答を選択してください。"
                         "回答は選択肢の番号（例：0）だけで出力してください。", 4, ("exact_match",),
                         ("0", "1", "2", "3")),
    "synth_sentiment": Spec(
        "与えられた文章から評価の対象となっている物の名前を抽出し、それに対する極性をpositive、"
        "neutral、negativeの中から選択してください。対象の名前と極性のペアをスペース（ ）で区切って"
        "出力し、それ以外には何も含めないことを厳守してください。答えが複数の場合、改行で繋げて"
        "ください。", 16, ("set_f1",)),
    "synth_reading": Spec("与えられたテキストを全てひらがなに変換してください。"
                          "回答の他には何も含めないことを厳守してください。", 20, ("char_f1",)),
    "synth_ner": Spec(
        "与えられたテキストから固有表現（" + "、".join(NER_TYPES) + "）を全て抽出してください。"
        "回答の他には何も含めないことを厳守してください。回答には「固有表現1（種類1）」のように"
        "固有表現の種類も含め、固有表現が複数の場合は改行で繋げてください。", 32, ("set_f1",)),
    "synth_arithmetic": Spec("与えられた計算問題の答えを整数で出力してください。"
                             "数値のみを出力し、それ以外には何も含めないことを厳守してください。",
                             4, ("exact_match",)),
    "synth_mt_j_to_e": Spec("次の日本語を英語に翻訳してください。", 48,
                            ("bleu_en", "bert_score_en_f1", "comet_wmt22")),
    "synth_mt_e_to_j": Spec("次の英語を日本語に翻訳してください。", 48,
                            ("bleu_ja", "bert_score_ja_f1", "comet_wmt22")),
    "synth_exam": Spec("与えられた質問と選択肢から、最も適切な回答を選択してください。なお、回答には"
                       "選択肢のアルファベット（例：A）のみを含め、他には何も含めないことを厳守して"
                       "ください。", 2, ("exact_match",), EXAM_LETTERS),
    "synth_code": Spec("あなたはPythonを専門にするプログラマです。入力に書かれた関数をPythonで書いて"
                       "ください。返答にはコードだけを平文で書き、```は入れないでください。", 24,
                       ("code_exec", "pylint_check")),
}
Samples = list[dict[str, str]]


def _size_error(name: str, what: str) -> WorkflowError:
    return WorkflowError(
        f"config keys synthetic.general_test / synthetic.general_dev: {name} has {what}, too "
        f"few for the test and dev splits and a train split")


def _split_by_key(rng: random.Random, items: list[tuple[str, dict]], cfg: dict,
                  name: str) -> dict[str, Samples]:
    """Split (key, sample) items so that no key (fact, word, function) of the test split is
    in dev or train, and none of dev in train. Train repeats items when the question space is
    smaller than ``general_train``."""
    groups: dict[str, Samples] = {}
    for key, sample in items:
        groups.setdefault(key, []).append(sample)
    keys = list(groups)
    rng.shuffle(keys)
    out: dict[str, Samples] = {}
    for split, size_key in HELD_OUT:
        held: Samples = []
        while keys and len(held) < cfg[size_key]:
            held += groups[keys.pop()]
        if len(held) < cfg[size_key]:
            raise _size_error(name, f"only {len(groups)} distinct questions")
        rng.shuffle(held)
        out[split] = held[:cfg[size_key]]
    rest = [s for k in keys for s in groups[k]]
    if not rest:
        raise _size_error(name, f"only {len(groups)} distinct questions")
    train: Samples = []
    while len(train) < cfg["general_train"]:
        train += rng.sample(rest, min(len(rest), cfg["general_train"] - len(train)))
    out["train"] = train
    return {split: out[split] for split in SPLITS}


def _draw(rng: random.Random, make, cfg: dict, name: str) -> dict[str, Samples]:
    """Distinct samples from a generator: no input occurs in two splits."""
    seen: set[str] = set()
    out: Samples = []
    n_test, n_dev = cfg["general_test"], cfg["general_dev"]
    total = n_test + n_dev + cfg["general_train"]
    for _ in range(50 * total + 1000):
        if len(out) == total:
            break
        sample = make(rng)
        if sample and sample["input"] not in seen:
            seen.add(sample["input"])
            out.append(sample)
    else:
        raise WorkflowError(f"config keys synthetic.general_train / general_dev / general_test: "
                            f"cannot generate {total} distinct {name} samples")
    return {"train": out[n_test + n_dev:], "dev": out[n_test:n_test + n_dev],
            "test": out[:n_test]}


def _nli_sample(rng: random.Random, label: str, held_out: set[str]) -> dict[str, str] | None:
    mods = ("adj", "place", "time", "comp")
    kind = rng.choice(("act", "act", "give"))
    premise = random_action(rng, tenses=("present", "past"), kind=kind)
    present = [m for m in mods if getattr(premise, m)]
    absent = [m for m in mods if not getattr(premise, m) and not (m == "comp" and kind == "give")]

    def drop(c: Clause, some: list[str], at_least_one: bool) -> Clause:
        k = rng.randint(1 if at_least_one else 0, len(some)) if some else 0
        return replace(c, **{m: None for m in rng.sample(some, k)})

    if label == "entailment":
        if not present:
            return None
        hyp = drop(premise, present, True)
    elif label == "contradiction":
        hyp = drop(replace(premise, tense={"present": "neg", "past": "neg_past"}[premise.tense]),
                   present, False)
    elif rng.random() < 0.5 and absent:  # neutral: says more than the premise
        extra = rng.choice(absent)
        value = {
            "adj": lambda: _maybe_adj(rng, premise.noun, 1.0),
            "place": lambda: rng.choice(PLACES),
            "time": lambda: rng.choice([t for t in TENSE_TIMES[premise.tense] if t]),
            "comp": lambda: _other_name(rng, premise.subj, premise.to),
        }[extra]()
        hyp = replace(drop(premise, present, False), **{extra: value})
    else:  # neutral: somebody else
        other = _other_name(rng, premise.subj, premise.comp, premise.to)
        hyp = replace(drop(premise, present, False), subj=other)
    p_ja, h_ja = render(premise)[1], render(hyp)[1]
    if p_ja in held_out or h_ja in held_out:
        return None
    return {"input": f"前提：{p_ja}\n仮説：{h_ja}", "output": label}


def _choice_sample(rng: random.Random) -> dict[str, str]:
    _, cat_ja, members, group = rng.choice(CATEGORIES)
    wrong = sorted({w for _, _, ws, g in CATEGORIES if g != group for w in ws})
    options = [rng.choice(members)] + rng.sample(wrong, 3)
    rng.shuffle(options)
    answer = next(i for i, w in enumerate(options) if w in members)
    listing = ",".join(f"{i}.{w[1]}" for i, w in enumerate(options))
    return {"input": f"質問：{cat_ja}はどれですか？\n選択肢：{listing}", "output": str(answer)}


def _sentences(clauses: list[Clause], held_out: set[str]) -> list[str] | None:
    """The clauses' Japanese sentences, or None when one of them is held out (MT test/dev)."""
    out = [render(c)[1] for c in clauses]
    return None if any(s in held_out for s in out) else out


def _rc_sample(rng: random.Random, held_out: set[str]) -> dict[str, str] | None:
    """JSQuAD-like: a passage of 2-3 past-tense actions by different people (no companions, so
    every answer is unique) and a who / what / where question answered by a span."""
    clauses = [replace(random_action(rng, tenses=("past",), kind="act"), comp=None)
               for _ in range(rng.randint(2, 3))]
    if (len({c.subj for c in clauses}) < len(clauses)
            or len({(c.noun, c.verb) for c in clauses}) < len(clauses)):
        return None
    sentences = _sentences(clauses, held_out)
    if sentences is None:
        return None
    c = rng.choice(clauses)
    verb = VERBS[c.verb].ja_past
    asks = [(f"{c.noun[1]}を{verb}のは誰ですか？", c.subj[1]),
            (f"{c.subj[1]}が{verb}のは何ですか？", c.noun[1])]
    if c.place:
        asks.append((f"{c.subj[1]}が{c.noun[1]}を{verb}のはどこですか？", c.place.ja))
    question, answer = rng.choice(asks)
    return {"input": f"文章：{''.join(sentences)}\n質問：{question}", "output": answer}


# chABSA-like polarity of the adjectives (the rest are neutral); a negated one flips.
POLARITY = {"delicious": "positive", "cheap": "positive", "new": "positive", "cute": "positive",
            "interesting": "positive", "expensive": "negative", "old": "negative"}
FLIP = {"positive": "negative", "negative": "positive", "neutral": "neutral"}
ALL_NOUNS: tuple[Word, ...] = tuple(n for nouns in NOUNS.values() for n in nouns)


def _sentiment_sample(rng: random.Random, held_out: set[str]) -> dict[str, str] | None:
    """chABSA-like: 1-3 judgements "その<noun>は<adj>。" of different things; the output lists
    each thing with its polarity, one per line, in order."""
    nouns = rng.sample(ALL_NOUNS, rng.randint(1, 3))
    clauses = [Clause("be", rng.choice(STATE_TENSES), noun=n, adj=ADJS[rng.choice(ADJS_FOR[NOUN_CLASS[n]])])
               for n in nouns]
    sentences = _sentences(clauses, held_out)
    if sentences is None:
        return None
    lines = []
    for c in clauses:
        polarity = POLARITY.get(c.adj[0], "neutral")
        lines.append(f"{c.noun[1]} {FLIP[polarity] if c.tense.startswith('neg') else polarity}")
    return {"input": f"文章：{''.join(sentences)}", "output": "\n".join(lines)}


# Readings (hiragana) of the lexicon's words that are not written in kana.
READINGS = {
    "太郎": "たろう", "花子": "はなこ", "次郎": "じろう", "健太": "けんた", "美咲": "みさき",
    "翔太": "しょうた", "直子": "なおこ", "大輔": "だいすけ", "由美": "ゆみ", "優子": "ゆうこ",
    "拓也": "たくや", "恵": "めぐみ", "博": "ひろし", "誠": "まこと", "陽子": "ようこ",
    "和也": "かずや", "彩": "あや", "健": "けん", "舞": "まい", "陸": "りく",
    "魚": "さかな", "ご飯": "ごはん", "卵": "たまご", "肉": "にく", "水": "みず", "お茶": "おちゃ",
    "牛乳": "ぎゅうにゅう", "本": "ほん", "新聞": "しんぶん", "手紙": "てがみ", "雑誌": "ざっし",
    "車": "くるま", "帽子": "ぼうし", "傘": "かさ", "自転車": "じてんしゃ", "時計": "とけい",
    "犬": "いぬ", "猫": "ねこ", "鳥": "とり", "馬": "うま",
    "公園": "こうえん", "学校": "がっこう", "駅": "えき", "図書館": "としょかん", "店": "みせ",
    "家": "いえ", "台所": "だいどころ", "庭": "にわ", "部屋": "へや",
    "東京": "とうきょう", "大阪": "おおさか", "京都": "きょうと", "仙台": "せんだい",
    "札幌": "さっぽろ", "名古屋": "なごや",
    "赤": "あか", "青": "あお", "白": "しろ", "黒": "くろ", "緑": "みどり", "黄色": "きいろ",
    "先生": "せんせい", "医者": "いしゃ", "学生": "がくせい", "歌手": "かしゅ", "料理人": "りょうりにん",
    "農家": "のうか",
    "大きい": "おおきい", "小さい": "ちいさい", "新しい": "あたらしい", "古い": "ふるい",
    "赤い": "あかい", "青い": "あおい", "白い": "しろい", "黒い": "くろい", "安い": "やすい",
    "高い": "たかい", "冷たい": "つめたい", "熱い": "あつい", "長い": "ながい", "面白い": "おもしろい",
}


def _is_kana(text: str) -> bool:
    return all("\u3041" <= ch <= "\u30ff" for ch in text)


def reading(word: str) -> str:
    """A lexicon word in hiragana (katakana shifted to hiragana; ー kept), as wiki_reading's
    morpheme readings are."""
    if word in READINGS:
        return READINGS[word]
    if not _is_kana(word):
        raise KeyError(f"no reading for {word!r}: add it to READINGS")
    return "".join(chr(ord(ch) - 0x60) if "\u30a1" <= ch <= "\u30f6" else ch for ch in word)


def _reading_sample(rng: random.Random) -> dict[str, str] | None:
    """wiki_reading-like: a short noun phrase of the lexicon and its reading in hiragana
    (None for a phrase already in hiragana: nothing to convert)."""
    word = rng.choice(ALL_NOUNS)
    noun, adj = word[1], ADJS[rng.choice(ADJS_FOR[NOUN_CLASS[word]])][1]
    name = rng.choice(NAMES)[1]
    parts = rng.choice((
        [name, "の", noun], [adj, noun], [name, "の", adj, noun],
        [rng.choice(CITIES)[1], "の", rng.choice(PLACES).ja],
    ))
    text, kana = "".join(parts), "".join(reading(p) for p in parts)
    return None if text == kana else {"input": text, "output": kana}


DATE_WORDS = (YESTERDAY, TODAY, TOMORROW)  # 毎日 ("every day") is no date expression


def _ner_sample(rng: random.Random, held_out: set[str]) -> dict[str, str] | None:
    """wiki_ner-like: 1-2 sentences; the output lists the people and dates, "名前（種類）", one
    per line in order of appearance, each once."""
    clauses = [random_action(rng) for _ in range(rng.randint(1, 2))]
    sentences = _sentences(clauses, held_out)
    if sentences is None:
        return None
    entities: list[str] = []
    for c in clauses:  # the order render() writes them: subject, time, companion, recipient
        date = c.time if c.time in DATE_WORDS else None
        for word, kind in ((c.subj, "人名"), (date, "日付表現"), (c.comp, "人名"), (c.to, "人名")):
            if word and f"{word[1]}（{kind}）" not in entities:
                entities.append(f"{word[1]}（{kind}）")
    if not entities:
        return None
    return {"input": "".join(sentences), "output": "\n".join(entities)}


EXAM_GROUPS: tuple[tuple[Word, ...], ...] = (
    *NOUNS.values(), tuple((p.en, p.ja) for p in PLACES), CITIES, JOBS, COLORS)
EXAM_QUESTIONS = ((1, "「{}」を英語で言うと何ですか？"), (0, "「{}」を日本語で言うと何ですか？"))


def exam_items(rng: random.Random) -> list[tuple[str, dict]]:
    """JMMLU-like vocabulary questions, keyed by the English word: each word asked both ways,
    twice, with three wrong options from its own group and options lettered A-D."""
    items, seen = [], set()
    for group in EXAM_GROUPS:
        for word in group:
            for lang, question in EXAM_QUESTIONS:
                for _ in range(2):
                    options = [word] + rng.sample([w for w in group if w != word], 3)
                    rng.shuffle(options)
                    listing = ",".join(f"{letter}.{o[1 - lang]}"
                                       for letter, o in zip(EXAM_LETTERS, options))
                    inp = f"質問：{question.format(word[lang])}\n選択肢：{listing}"
                    if inp not in seen:
                        seen.add(inp)
                        items.append((word[0], {"input": inp,
                                                "output": EXAM_LETTERS[options.index(word)]}))
    return items


@dataclass(frozen=True)
class CodeTask:
    """A family of one-line Python functions: ``task`` (what it returns, Japanese, with {k}),
    its parameter, the return expression, the constants k, the expected value of (arg, k), and
    two test arguments for k, chosen so that the tests pin k (the same function with k + 1
    fails them)."""

    task: str
    param: str
    body: str
    ks: tuple[int, ...]
    expected: Callable
    test_args: Callable


def _two_ints(rng: random.Random, k: int) -> list[int]:
    return rng.sample(range(1, 21), 2)


CODE_TASKS = (
    CodeTask("整数xに{k}を足した値", "x", "x + {k}", tuple(range(1, 10)), lambda x, k: x + k,
             _two_ints),
    CodeTask("整数xから{k}を引いた値", "x", "x - {k}", tuple(range(1, 10)), lambda x, k: x - k,
             _two_ints),
    CodeTask("整数xに{k}を掛けた値", "x", "x * {k}", tuple(range(2, 10)), lambda x, k: x * k,
             _two_ints),
    CodeTask("整数xを{k}で割った余り", "x", "x % {k}", tuple(range(2, 10)), lambda x, k: x % k,
             lambda rng, k: [k + rng.randint(1, k - 1), rng.randrange(30)]),
    CodeTask("整数xが{k}より大きければTrue、そうでなければFalse", "x", "x > {k}", tuple(range(10)),
             lambda x, k: x > k, lambda rng, k: [k + 1, k]),
    CodeTask("整数xと{k}のうち大きい方", "x", "max(x, {k})", tuple(range(1, 10)),
             lambda x, k: max(x, k), lambda rng, k: [k + rng.randint(1, 5), rng.randrange(k)]),
    CodeTask("文字列sを{k}回繰り返した文字列", "s", "s * {k}", (2, 3), lambda s, k: s * k,
             lambda rng, k: [w[0] for w in rng.sample(ALL_NOUNS, 2)]),
    CodeTask("整数のリストxsの要素の和に{k}を足した値", "xs", "sum(xs) + {k}", tuple(range(10)),
             lambda xs, k: sum(xs) + k,
             lambda rng, k: [[rng.randrange(10) for _ in range(rng.randint(1, 3))], []]),
)
CODE_NAMES = tuple(w[0] for w in NAMES + ALL_NOUNS)  # the function names: english words


def code_items(rng: random.Random) -> list[tuple[str, dict]]:
    """MBPP-like tasks keyed by the function (name, task, k): the input states the task (not
    its tests, unlike mbpp: four shots of those would not fit the demo model's 512 positions),
    the output is two tests as a Python literal list (mbpp's format), and the ``solution``
    field holds the one-line reference function (no blank line in it)."""
    items = []
    for fname in CODE_NAMES:
        for t, task in enumerate(CODE_TASKS):
            for k in task.ks:
                tests = [f"assert {fname}({arg!r}) == {task.expected(arg, k)!r}"
                         for arg in task.test_args(rng, k)]
                text = task.task.format(k=k)
                items.append((f"{fname}:{t}:{k}", {
                    "input": f"{text}を返す関数{fname}({task.param})を書いてください。",
                    "output": repr(tests),
                    SOLUTION_FIELD: f"def {fname}({task.param}):\n    return {task.body.format(k=k)}",
                }))
    return items


def make_datasets(world: World, cfg: dict) -> dict[str, dict[str, Samples]]:
    """{dataset name: {split: samples}} for every name in ``DATASETS`` and split in ``SPLITS``."""
    out: dict[str, dict[str, Samples]] = {}
    rng = _rng(cfg, "arithmetic")
    items = [(key, {"input": inp, "output": ans})
             for key, sym, ja, ans in arithmetic_facts() for inp in (sym, ja)]
    out["synth_arithmetic"] = _split_by_key(rng, items, cfg, "synth_arithmetic")

    rng = _rng(cfg, "qa")
    attrs = {a.key: a for a in ATTRIBUTES}
    items = []
    for (name, key), value in world.facts.items():
        a = attrs[key]
        items.append((f"{name[0]}:{key}", {"input": a.question_ja.format(name=name[1]),
                                           "output": value[1]}))
        items.append((f"{name[0]}:{key}", {"input": a.question_en.format(name=name[0]),
                                           "output": value[0]}))
    out["synth_facts_qa"] = _split_by_key(rng, items, cfg, "synth_facts_qa")

    held_out = world.held_out
    nli = _draw(_rng(cfg, "nli"), lambda r: _nli_sample(r, r.choice(NLI_LABELS), held_out), cfg,
                "synth_nli")
    # the head of train (the few-shot examples) shows every label
    head = [next(s for s in nli["train"] if s["output"] == label) for label in NLI_LABELS]
    out["synth_nli"] = {**nli, "train": head + [s for s in nli["train"] if s not in head]}

    out["synth_choice"] = _draw(_rng(cfg, "choice"), _choice_sample, cfg, "synth_choice")
    out["synth_rc"] = _draw(_rng(cfg, "rc"), lambda r: _rc_sample(r, held_out), cfg, "synth_rc")
    out["synth_sentiment"] = _draw(_rng(cfg, "sentiment"),
                                   lambda r: _sentiment_sample(r, held_out), cfg, "synth_sentiment")
    out["synth_reading"] = _draw(_rng(cfg, "reading"), _reading_sample, cfg, "synth_reading")
    out["synth_ner"] = _draw(_rng(cfg, "ner"), lambda r: _ner_sample(r, held_out), cfg, "synth_ner")
    rng = _rng(cfg, "exam")
    out["synth_exam"] = _split_by_key(rng, exam_items(rng), cfg, "synth_exam")
    rng = _rng(cfg, "code")
    code = _split_by_key(rng, code_items(rng), cfg, "synth_code")
    for split, _ in HELD_OUT:  # the evaluated splits stay in mbpp's exact format
        code[split] = [{k: v for k, v in s.items() if k != SOLUTION_FIELD} for s in code[split]]
    out["synth_code"] = code

    rng = _rng(cfg, "mt")
    for name, direction, src, tgt in (("synth_mt_j_to_e", "ja-en", 1, 0),
                                      ("synth_mt_e_to_j", "en-ja", 0, 1)):
        train = rng.sample(world.corpus, min(cfg["general_train"], len(world.corpus)))
        out[name] = {split: [{"input": p[src], "output": p[tgt]} for p in pairs]
                     for split, pairs in (("train", train), ("dev", world.dev[direction]),
                                          ("test", world.test[direction]))}
    return {name: out[name] for name in DATASETS}


def dataset_json(name: str, samples: Samples) -> dict:
    spec = DATASETS[name]
    return {
        "instruction": spec.instruction, "output_length": spec.output_length,
        "metrics": list(spec.metrics), "few_shots": [], "samples": samples,
        "label_list": list(spec.label_list),
    }


# ---------------------------------------------------------------------------------- entry
def synthesize(cfg: dict, corpus_out: str | Path, monolingual_out: str | Path,
               datasets_out: str | Path, logger=None) -> dict:
    """Generate everything in memory, then write the three outputs atomically.
    Returns counts (also logged)."""
    world = build_world(dict(cfg))
    lines = corpus_lines(world, cfg)
    docs = monolingual_docs(world, cfg)
    datasets = make_datasets(world, cfg)
    with atomic_open(corpus_out, "wb") as fh:
        fh.writelines(lines)
    with atomic_open(monolingual_out) as fh:
        for doc in docs:
            fh.write(json.dumps({"text": doc}, ensure_ascii=False) + "\n")
    with atomic_dir(datasets_out) as tmp:
        for name, splits in datasets.items():
            for split, samples in splits.items():
                path = dataset_path(split_dir(tmp, split), name)
                path.parent.mkdir(parents=True, exist_ok=True)
                text = json.dumps(dataset_json(name, samples), ensure_ascii=False, indent=1)
                path.write_text(text + "\n", encoding="utf-8")
    summary = {
        "tsv_lines": len(lines), "aligned_pairs": len(world.corpus),
        "low_score_pairs": len(world.misaligned), "malformed_lines": cfg["malformed_lines"],
        "held_out_pairs": {split: {d: len(p) for d, p in pairs.items()}
                           for split, pairs in (("test", world.test), ("dev", world.dev))},
        "monolingual_docs": len(docs),
        "datasets": {n: {s: len(v) for s, v in splits.items()} for n, splits in datasets.items()},
    }
    if logger:
        logger.info("synthetic data: %s", json.dumps(summary, ensure_ascii=False))
    return summary


def main(job: SynthesizeDataJob) -> None:
    logger = get_logger("synthesize_data", job.log)
    synthesize(job.cfg, job.corpus, job.monolingual, job.datasets, logger=logger)
