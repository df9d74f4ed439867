"""train: the DeepSpeed loop writes a loadable model, follows the LR schedule, is deterministic
for a seed, continues from a model, and fails loudly on NaN loss or mismatched tokens."""
from __future__ import annotations

import csv
import json
import math
import os
import signal
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from snakemake.io import Namedlist
from transformers import AutoTokenizer, LlamaForCausalLM

import wasurenai.train as T
import wasurenai.train.loop as L
from helpers import TINY_ARCH, TINY_HP, tiny_training_data
from wasurenai.common import WorkflowError
from wasurenai.jobs import TrainJob
from wasurenai.train import (
    deepspeed_config, lr_at, main, total_steps, train, validate_hp, window_order,
)

ARCH, HP = TINY_ARCH, TINY_HP


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return tiny_training_data(tmp_path_factory.mktemp("train_data"))


@pytest.fixture(scope="module")
def scratch(data):
    """One run from scratch through main(smk), shared by the tests that inspect it."""
    out = data.root / "scratch"
    log = data.root / "scratch.log"
    main(TrainJob.from_snakemake(smk_job(data, out, log, HP)))
    return SimpleNamespace(out=out, log=log, metrics=log.with_suffix(".csv"))


def smk_job(data, out, log, hp, **resources):
    """The ``snakemake`` object a build_demo_base-like job (from scratch) hands its script."""
    return SimpleNamespace(
        input=Namedlist(fromdict={"tokens": str(data.bin), "meta": str(data.meta), "tokenizer": str(data.tok)}),
        output=Namedlist([str(out)]), params=Namedlist(fromdict={"hp": hp, "architecture": ARCH}),
        log=Namedlist(fromdict={"log": str(log), "metrics": str(log.with_suffix(".csv"))}),
        threads=1, resources=Namedlist(fromdict=resources), config={"cpt": TINY_HP},
    )


def read_log(out) -> list[dict]:
    with open(out / "train_log.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_lr_schedule_warms_up_linearly_then_cosine_decays_to_the_floor():
    hp = dict(HP, lr=1.0, min_lr=0.1, warmup_steps=4)
    lrs = [lr_at(s, hp, 20) for s in range(20)]
    assert lrs[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert lrs[-1] == pytest.approx(0.1)
    assert all(a > b for a, b in zip(lrs[4:], lrs[5:]))  # strictly decreasing after warm-up
    mid = 4 + (19 - 4) / 2  # cosine half-way = mean of peak and floor
    assert lr_at(mid, hp, 20) == pytest.approx(0.55)
    assert lr_at(0, dict(hp, warmup_steps=0), 20) == pytest.approx(1.0)


def test_hp_validation_names_the_key():
    with pytest.raises(WorkflowError, match="global_batch_size"):
        validate_hp(dict(HP, global_batch_size=6))  # not a multiple of micro 4
    with pytest.raises(WorkflowError, match="global_batch_size"):
        validate_hp(dict(HP, global_batch_size=8), world_size=3)
    with pytest.raises(WorkflowError, match="missing keys.*'lr'"):
        validate_hp({k: v for k, v in HP.items() if k != "lr"})
    with pytest.raises(WorkflowError, match="precision"):
        validate_hp(dict(HP, precision="fp16"))
    with pytest.raises(WorkflowError, match="min_lr"):
        validate_hp(dict(HP, min_lr=1.0))


def test_batching_config_and_data_order():
    cfg = deepspeed_config(dict(HP, global_batch_size=16, micro_batch_size=2), world_size=2)
    assert cfg["gradient_accumulation_steps"] == 4 and cfg["train_batch_size"] == 16
    assert cfg["bf16"]["enabled"] is False and cfg["gradient_clipping"] == 1.0
    order = window_order(10, 25, seed=3)
    assert [sorted(order[i:i + 10]) for i in (0, 10)] == [list(range(10))] * 2  # full passes
    assert np.array_equal(order, window_order(10, 25, seed=3))
    assert not np.array_equal(order, window_order(10, 25, seed=4))
    assert total_steps(dict(HP, steps=None), 100) == 12  # one pass: 100 // 8
    with pytest.raises(WorkflowError, match="fewer than one global batch"):
        total_steps(dict(HP, steps=None), 7)


def test_training_writes_a_loadable_model_and_its_log(scratch, data):
    out = scratch.out
    model = LlamaForCausalLM.from_pretrained(out)
    tok = AutoTokenizer.from_pretrained(out)
    assert (out / "model.safetensors").is_file()
    assert model.config.attention_dropout == HP["dropout"]
    assert model.config.vocab_size == len(tok) == 300
    assert model.config.eos_token_id == tok.eos_token_id
    assert (out / "tokenizer.json").read_bytes() == (data.tok / "tokenizer.json").read_bytes()

    rows = read_log(out)
    assert list(rows[0]) == ["step", "loss", "lr", "tokens_per_s", "mfu"]
    assert all(r["mfu"] == "" for r in rows)  # a CPU has no known peak: no MFU
    assert [int(r["step"]) for r in rows] == [3, 6, 9, 12]
    assert [float(r["lr"]) for r in rows] == pytest.approx([lr_at(s - 1, HP, 12) for s in (3, 6, 9, 12)])
    losses = [float(r["loss"]) for r in rows]
    assert losses[-1] < losses[0] - 0.5, losses
    assert all(float(r["tokens_per_s"]) > 0 for r in rows)
    assert "step 12/12 loss" in scratch.log.read_text()
    # the rule's metrics log, rewritten at every row while the run goes, ends equal
    assert scratch.metrics.read_text() == (out / "train_log.csv").read_text()

    # the trained model fits the training text better than chance
    ids = torch.tensor(np.fromfile(data.bin, dtype="<u2")[:64].astype(np.int64)).view(2, 32)
    with torch.no_grad():
        assert model(input_ids=ids, labels=ids).loss.item() < math.log(300) - 1


def test_training_is_deterministic_for_a_seed(scratch, data, tmp_path):
    again = tmp_path / "again"
    train(data.bin, data.meta, data.tok, again, HP, architecture=ARCH)
    a, b = load_file(scratch.out / "model.safetensors"), load_file(again / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [r["loss"] for r in read_log(again)] == [r["loss"] for r in read_log(scratch.out)]

    other = tmp_path / "other"
    train(data.bin, data.meta, data.tok, other, dict(HP, seed=1, steps=3), architecture=ARCH)
    c = load_file(other / "model.safetensors")
    assert not torch.equal(a["model.embed_tokens.weight"], c["model.embed_tokens.weight"])


def test_continued_training_starts_from_the_given_model(scratch, data, tmp_path):
    out = tmp_path / "cpt"
    hp = dict(HP, steps=None, lr=1e-3, min_lr=1e-4, dropout=0.0, global_batch_size=64,
              micro_batch_size=32, zero_stage=1, log_every=100)
    rows = train(data.bin, data.meta, scratch.out, out, hp, init_model=scratch.out)
    n_windows = json.loads(data.meta.read_text())["n_windows"]
    assert [r["step"] for r in rows] == [n_windows // 64]  # steps: null = one pass
    before = LlamaForCausalLM.from_pretrained(scratch.out).state_dict()
    after = LlamaForCausalLM.from_pretrained(out)
    assert after.config.attention_dropout == 0.0
    delta = max((after.state_dict()[k] - v).abs().max().item() for k, v in before.items())
    assert 0 < delta < 0.1  # moved a little from the init, not re-initialised
    assert (out / "tokenizer_config.json").is_file() and (out / "train_log.csv").is_file()


def test_nan_loss_fails_naming_the_step_and_leaves_no_output(scratch, data, tmp_path):
    broken = tmp_path / "broken"
    model = LlamaForCausalLM.from_pretrained(scratch.out)
    model.save_pretrained(broken)
    weights = load_file(broken / "model.safetensors")
    weights["model.norm.weight"][0] = float("nan")
    save_file(weights, broken / "model.safetensors", metadata={"format": "pt"})
    out = tmp_path / "out"
    with pytest.raises(WorkflowError, match="loss is nan at step 1"):
        train(data.bin, data.meta, data.tok, out, HP, init_model=broken)
    assert not out.exists()


def test_tokens_outside_the_vocabulary_are_rejected(data, tmp_path):
    arch = dict(ARCH)
    bad_bin = tmp_path / "bad.bin"
    tokens = np.fromfile(data.bin, dtype="<u2").copy()
    tokens[5] = 400  # the tokenizer has 300 ids
    tokens.tofile(bad_bin)
    with pytest.raises(WorkflowError, match="token id 400 >= the model's vocab_size 300"):
        train(bad_bin, data.meta, data.tok, tmp_path / "out", HP, architecture=arch)
    with pytest.raises(WorkflowError, match="max_position_embeddings"):
        train(data.bin, data.meta, data.tok, tmp_path / "out", HP,
              architecture=dict(arch, max_position_embeddings=16))
    assert not (tmp_path / "out").exists()


KILL_AT = 10  # optimizer steps; checkpoints every 4


def child_env() -> dict:
    """This process's environment without its torch.distributed group."""
    dist = ("MASTER_ADDR", "MASTER_PORT", "RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE")
    env = {k: v for k, v in os.environ.items() if k not in dist}
    return env


def train_in_child(data, out, hp, prologue: str = "") -> subprocess.CompletedProcess:
    """``train`` in a fresh Python process (``prologue`` runs first, with wasurenai.train as T
    and its loop module as L)."""
    code = (
        "import os, signal, sys, json\n"
        "import wasurenai.train as T\n"
        "import wasurenai.train.loop as L\n" + prologue +
        f"T.train({str(data.bin)!r}, {str(data.meta)!r}, {str(data.tok)!r}, {str(out)!r},"
        f" json.loads({json.dumps(json.dumps(hp))}), architecture=json.loads({json.dumps(json.dumps(ARCH))}), threads=1)\n"  # noqa: E501
    )
    return subprocess.run([sys.executable, "-c", code], env=child_env(), capture_output=True,
                          text=True, timeout=600)


@pytest.mark.parametrize("sig, resumes_after", [(signal.SIGKILL, 8), (signal.SIGTERM, KILL_AT)])
def test_a_killed_run_resumes_from_its_last_checkpoint_and_ends_identical(
        data, tmp_path, sig, resumes_after):
    """A real signal midway through step 10, in a child process, then a rerun: the final
    weights equal an uninterrupted run's bit for bit (data order, optimizer, schedule and
    RNG all restored). SIGKILL loses the steps since the last periodic checkpoint (8);
    SIGTERM (SLURM's walltime warning) finishes step 10, checkpoints it and fails the job."""
    hp = dict(HP, checkpoint_every=4)  # dropout 0.1: the RNG state must be restored too
    ref = tmp_path / "ref"
    train(data.bin, data.meta, data.tok, ref, hp, architecture=ARCH, threads=1)
    out = tmp_path / "out"
    proc = train_in_child(data, out, hp, (
        "orig = L.lr_at\n"
        "def lr_at(step, hp, total):\n"  # called as optimizer step KILL_AT ends
        f"    if step == {KILL_AT}: os.kill(os.getpid(), {int(sig)})\n"
        "    return orig(step, hp, total)\n"
        "L.lr_at = lr_at\n"
    ))
    if sig == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    else:
        assert proc.returncode == 1, proc.stderr[-2000:]
        assert f"stopped by SIGTERM after step {KILL_AT}/12; checkpoint saved" in proc.stderr
    resume_dir = tmp_path / ".out.resume"
    assert not out.exists() and (resume_dir / "latest").read_text().strip() == f"step{resumes_after}"
    rows = train(data.bin, data.meta, data.tok, out, hp, architecture=ARCH, threads=1)
    assert [r["step"] for r in rows] == [3, 6, 9, 12]
    a, b = load_file(str(ref / "model.safetensors")), load_file(str(out / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not resume_dir.exists()  # removed once the run is complete


def test_a_checkpoint_cut_short_is_never_resumed(data, tmp_path):
    """SIGKILL while the step-8 checkpoint is being written (inside DeepSpeed's torch.save):
    ``latest`` still names step 4, and the rerun resumes from there to the same weights."""
    hp = dict(HP, checkpoint_every=4)
    ref = tmp_path / "ref"
    train(data.bin, data.meta, data.tok, ref, hp, architecture=ARCH, threads=1)
    out = tmp_path / "out"
    proc = train_in_child(data, out, hp, (
        "import torch\n"
        "save = torch.save\n"
        "def killing_save(obj, path, *a, **k):\n"
        "    if 'step8' in str(path): os.kill(os.getpid(), signal.SIGKILL)\n"
        "    return save(obj, path, *a, **k)\n"
        "torch.save = killing_save\n"
    ))
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    resume_dir = tmp_path / ".out.resume"
    assert (resume_dir / "step8").is_dir()  # begun, not finished
    assert (resume_dir / "latest").read_text().strip() == "step4"
    rows = train(data.bin, data.meta, data.tok, out, hp, architecture=ARCH, threads=1)
    assert [r["step"] for r in rows] == [3, 6, 9, 12]
    a, b = load_file(str(ref / "model.safetensors")), load_file(str(out / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_checkpoint_of_other_hyperparameters_is_not_resumed(data, tmp_path):
    hp = dict(HP, checkpoint_every=4, steps=8)
    resume_dir = tmp_path / ".out.resume"
    resume_dir.mkdir()
    (resume_dir / "latest").write_text("step4")
    (resume_dir / "fingerprint.json").write_text('{"hp": {"lr": 1}}')
    rows = train(data.bin, data.meta, data.tok, tmp_path / "out", hp, architecture=ARCH, threads=1)
    assert rows[0]["step"] == 3 and not resume_dir.exists()


def test_mfu_is_six_n_flops_per_token_over_the_peak(data, tmp_path):
    hp = dict(HP, steps=6, peak_tflops=0.5)  # a device of 0.5 TFLOP/s
    rows = train(data.bin, data.meta, data.tok, tmp_path / "out", hp, architecture=ARCH, threads=1)
    n_params = sum(p.numel() for p in LlamaForCausalLM.from_pretrained(tmp_path / "out").parameters())
    for row in rows:
        assert row["mfu"] == pytest.approx(6 * n_params * row["tokens_per_s"] / 0.5e12)
    assert float(read_log(tmp_path / "out")[0]["mfu"]) == pytest.approx(rows[0]["mfu"])


def test_activation_checkpointing_recomputes_layers_and_trains_the_same(data, tmp_path, monkeypatch):
    from transformers.models.llama import modeling_llama

    calls = []
    forward = modeling_llama.LlamaDecoderLayer.forward
    monkeypatch.setattr(modeling_llama.LlamaDecoderLayer, "forward",
                        lambda self, *a, **k: calls.append(1) or forward(self, *a, **k))
    hp = dict(HP, steps=2, dropout=0.0)
    weights = {}
    for on in (False, True):
        calls.clear()
        out = tmp_path / f"ac{on}"
        train(data.bin, data.meta, data.tok, out, dict(hp, activation_checkpointing=on),
              architecture=ARCH, threads=1)
        micro_batches = 2 * 2  # steps x accumulation
        assert len(calls) == ARCH["num_hidden_layers"] * micro_batches * (2 if on else 1)
        weights[on] = load_file(str(out / "model.safetensors"))
    for k, v in weights[False].items():
        torch.testing.assert_close(weights[True][k], v)


def test_out_of_memory_names_the_config_key_to_change(data, tmp_path):
    """A real allocator failure: the child caps its address space once DeepSpeed is set up,
    and the first micro-batch's logits (4096 x 32 x 300 floats, 157 MB) do not fit."""
    hp = dict(HP, steps=1, global_batch_size=4096, micro_batch_size=4096, warmup_steps=0)
    proc = train_in_child(data, tmp_path / "out", hp, (
        "import resource\n"
        "orig = L.window_order\n"
        "def window_order(*a):\n"
        "    vm = next(int(l.split()[1]) * 1024 for l in open('/proc/self/status') if l.startswith('VmSize'))\n"
        "    resource.setrlimit(resource.RLIMIT_AS, (vm + 64 * 2**20, resource.RLIM_INFINITY))\n"
        "    return orig(*a)\n"
        "L.window_order = window_order\n"
    ))
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "out of memory at step 1 with 4096 sequences per device" in proc.stderr
    assert "Lower config key cpt.micro_batch_size" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_nan_loss_midway_keeps_the_last_good_checkpoint(data, tmp_path, monkeypatch):
    """The loss turns NaN in step 6 (checkpoints every 4): the run fails naming the step,
    the step-4 checkpoint stays, and a rerun (the fault gone) resumes from it."""
    hp = dict(HP, checkpoint_every=4)
    build = L.build_model

    def faulty(*args, **kwargs):
        model = build(*args, **kwargs)
        seen = []

        def poison(module, inputs, output):
            seen.append(1)
            return output * float("nan") if len(seen) == 11 else output  # step 6, micro 1

        model.model.norm.register_forward_hook(poison)
        return model

    monkeypatch.setattr(L, "build_model", faulty)
    out = tmp_path / "out"
    with pytest.raises(WorkflowError, match=r"loss is nan at step 6 .*last good checkpoint stays"):
        train(data.bin, data.meta, data.tok, out, hp, architecture=ARCH, threads=1)
    assert (tmp_path / ".out.resume" / "latest").read_text().strip() == "step4"
    monkeypatch.setattr(L, "build_model", build)
    rows = train(data.bin, data.meta, data.tok, out, hp, architecture=ARCH, threads=1)
    assert [r["step"] for r in rows] == [3, 6, 9, 12]


def test_two_processes_through_torchrun_train_like_one(data, tmp_path):
    """``resources.gpu = 2``: main() launches two processes with torchrun (CPU, gloo); each
    takes half of every global batch, and the weights match a one-process run's."""
    hp = dict(HP, dropout=0.0, global_batch_size=8, micro_batch_size=4, checkpoint_every=5)
    one, two = tmp_path / "one", tmp_path / "two"
    train(data.bin, data.meta, data.tok, one, hp, architecture=ARCH, threads=1)
    main(TrainJob.from_snakemake(smk_job(data, two, tmp_path / "two.log", hp, gpu=2)))
    log = (tmp_path / "two.log").read_text()
    assert "launching 1 x 2 processes" in log
    assert "global batch 8 = micro 4 x accumulation 1 x 2 processes" in log
    assert len(read_log(two)) == 4 and (tmp_path / "two.csv").is_file()
    a, b = load_file(str(one / "model.safetensors")), load_file(str(two / "model.safetensors"))
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=1e-4, atol=1e-5)
    assert not (tmp_path / ".two.resume").exists() and not (tmp_path / ".two.launch.json").exists()


def test_a_batch_that_does_not_split_over_the_gpus_fails_before_launching(data, tmp_path):
    log = tmp_path / "three.log"
    with pytest.raises(WorkflowError, match=r"global_batch_size = 8: must be a multiple of "
                                            r"micro_batch_size x devices = 12"):
        main(TrainJob.from_snakemake(smk_job(data, tmp_path / "three", log, HP, gpu=3)))
    assert "launching" not in log.read_text()


def test_uneven_gpus_over_nodes_name_the_resource():
    with pytest.raises(WorkflowError, match="resources.gpu = 3 over resources.nodes = 2"):
        T.processes_per_node(3, 2)
    assert T.processes_per_node(8, 2) == 4 and T.processes_per_node(1, 1) == 1


def test_a_cpt_job_takes_cpt_hyperparameters_and_its_input_model(data, tmp_path):
    """Rule continual_pretrain names input.model and passes no params: the job's
    hyperparameters are config cpt's, and it has no architecture."""
    smk = SimpleNamespace(
        input=Namedlist(fromdict={"model": "m", "tokenizer": str(data.tok), "tokens": str(data.bin),
                                  "meta": str(data.meta)}),
        output=Namedlist([str(tmp_path / "out")]), params=Namedlist(),
        log=Namedlist(fromdict={"log": str(tmp_path / "l.log")}), threads=2,
        resources=Namedlist(fromdict={"gpu": 1}), config={"cpt": HP},
    )
    job = TrainJob.from_snakemake(smk)
    assert (job.hp, job.init_model, job.architecture, job.metrics_csv) == (HP, "m", None, None)
    assert (job.gpus, job.nodes, job.threads, job.log) == (1, 1, 2, str(tmp_path / "l.log"))
    smk.params = Namedlist(fromdict={"hp": {"steps": 3}})
    assert TrainJob.from_snakemake(smk).hp == dict(HP, steps=3)
