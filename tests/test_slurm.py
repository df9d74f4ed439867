"""The SLURM profiles: a real `snakemake --executor slurm` run of a tiny workflow
(tests/slurm_workflow) with profiles/slurm, and dry runs of this workflow with both profiles.

The real run needs a reachable SLURM controller with a `gpu:h100` GRES in the partition it
uses: `.ci/slurm-up` sets one up on this machine (one node, a fake H100 on /dev/null). It
is skipped only where `sbatch` is not on PATH or `sinfo` cannot reach a controller, and
fails there instead when CI=true (CI starts a SLURM with .ci/slurm-up).
WASURENAI_SLURM_PARTITION picks the partition (default: the cluster's default partition).
"""
from __future__ import annotations

import csv
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pandas as pd
import pytest
import yaml

from helpers import REPO, TINY_ARCH, TINY_HP, job_counts, snakemake, tiny_training_data

PROFILE = REPO / "profiles" / "slurm"
PROFILE_A100 = REPO / "profiles" / "slurm-a100"
TEST_WORKFLOW = REPO / "tests" / "slurm_workflow" / "Snakefile"
RUN_TIMEOUT = 240  # seconds; the run takes well under a minute on an idle one-node cluster
GPU_RULES = ("continual_pretrain", "build_demo_base", "evaluate")
CPU_RULES = ("merge", "aggregate", "prepare_corpus", "tokenize", "demo_comet")


def load_profile(path: Path) -> dict:
    return yaml.safe_load((path / "config.v8+.yaml").read_text())


def grid_block(path: Path) -> dict:
    """The commented grid-batching lines of a profile, (a) and (b), as the YAML they become
    when uncommented."""
    text = (path / "config.v8+.yaml").read_text()
    block = text[text.index("# --- batching a merge grid"):].splitlines()
    lines = [ln[2:] for ln in block if re.match(r"^# ([A-Za-z][\w-]*:.*|  \w.*)$", ln)]
    return yaml.safe_load("\n".join(lines))


def write_profile(directory: Path, profile: dict) -> Path:
    directory.mkdir()
    (directory / "config.v8+.yaml").write_text(yaml.safe_dump(profile))
    return directory


def no_slurm(why: str):
    """Skip a test that needs SLURM, except in CI (CI=true), where .ci/run starts one: there a
    missing SLURM is a failure, not a skip."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI: {why}; .ci/slurm-up should have started a one-node SLURM")
    pytest.skip(why)


def slurm_cluster() -> str:
    """The partition to test in; skips the test where there is no SLURM to talk to."""
    if shutil.which("sbatch") is None:
        no_slurm("no SLURM here: sbatch is not on PATH (run .ci/slurm-up as root)")
    try:
        proc = subprocess.run(["sinfo", "-h", "-o", "%P %G"], capture_output=True,
                              text=True, timeout=15)
    except (OSError, subprocess.TimeoutExpired) as err:
        no_slurm(f"sinfo cannot reach a SLURM controller: {err}")
    if proc.returncode != 0:
        no_slurm(f"sinfo cannot reach a SLURM controller: {proc.stderr.strip()}")
    partitions = dict(ln.split(maxsplit=1) for ln in proc.stdout.splitlines() if " " in ln)
    wanted = os.environ.get("WASURENAI_SLURM_PARTITION")
    if wanted is None:
        defaults = [p for p in partitions if p.endswith("*")]
        assert defaults, f"no default partition; set WASURENAI_SLURM_PARTITION\n{proc.stdout}"
        wanted = defaults[0]
    wanted = wanted.rstrip("*")
    gres = {p.rstrip("*"): g for p, g in partitions.items()}.get(wanted)
    assert gres is not None, f"partition {wanted} is not in `sinfo`:\n{proc.stdout}"
    model = load_profile(PROFILE)["set-resources"]["evaluate"]["gpu_model"]
    assert f"gpu:{model}" in gres, (
        f"partition {wanted} has no gpu:{model} GRES ({gres}); the GPU job would pend forever")
    return wanted


def shared_workdir() -> Path:
    """Jobs run on compute nodes: the work directory must be on the shared filesystem, so
    it lives in the repository (under the ignored .snakemake/), not in /tmp."""
    workdir = REPO / ".snakemake" / "test_slurm" / uuid.uuid4().hex[:8]
    workdir.mkdir(parents=True)
    return workdir


def start_snakemake(snakefile: Path, workdir: Path, profile_dir: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(snakefile),
           "--directory", str(workdir), "--profile", str(profile_dir), "--verbose"]
    return subprocess.Popen(cmd, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)


def finish(proc: subprocess.Popen, timeout: float = RUN_TIMEOUT) -> tuple[int, str]:
    """Wait for a `snakemake --executor slurm` run; past ``timeout`` cancel it and fail."""
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)  # Snakemake scancels its jobs on Ctrl-C
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        pytest.fail(f"snakemake --executor slurm ran over {timeout}s:\n{out[-6000:]}")
    return proc.returncode, out


def test_profile_per_rule_resources():
    """Every GPU rule asks for its GPU type, CPU rules ask for none, and each has a walltime."""
    for path, gpus in ((PROFILE, 1), (PROFILE_A100, 2)):
        profile = load_profile(path)
        assert profile["executor"] == "slurm"
        assert profile["jobs"] == 100
        res = profile["set-resources"]
        assert set(GPU_RULES + CPU_RULES) <= set(res), path
        for rule in GPU_RULES:
            assert res[rule]["gpu"] >= 1 and res[rule]["gpu_model"], (path, rule)
        assert res["continual_pretrain"]["gpu"] == gpus
        for rule in CPU_RULES:
            assert not {"gpu", "gpu_model", "gres"} & set(res[rule]), (path, rule)
        for rule in ("prepare_corpus", "tokenize", "merge"):  # CPU jobs to a CPU partition
            assert res[rule]["slurm_partition"] != profile["default-resources"]["slurm_partition"]
        assert profile["retries"] >= 1  # a CPT job past its walltime resumes on the retry
        for rule in GPU_RULES + CPU_RULES:
            assert res[rule]["runtime"] and res[rule]["mem_mb"], (path, rule)


@pytest.mark.parametrize("profile", [PROFILE, PROFILE_A100], ids=["slurm", "slurm-a100"])
def test_profile_dry_run(workdir, profile):
    """The real workflow's DAG builds with the SLURM profile (a dry run submits nothing and
    needs no SLURM), and the profile's per-rule GPU settings reach the jobs."""
    proc = snakemake(workdir, "-n", "--profile", str(profile),
                     "--configfile", str(REPO / "config.yaml"))
    counts = job_counts(proc.stdout)
    assert counts.get("continual_pretrain") and counts.get("evaluate") and counts.get("merge")
    wanted = load_profile(profile)["set-resources"]
    seen = 0
    for block in proc.stdout.split("\nrule ")[1:]:  # one block per job
        rule = block.split(":", 1)[0]
        line = next(ln for ln in block.splitlines() if ln.strip().startswith("resources:"))
        res = dict(kv.split("=", 1) for kv in line.split(":", 1)[1].replace(",", " ").split())
        if rule in GPU_RULES:
            # string resources are evaluated at submission: the dry run shows gpu_model=<TBD>
            assert res.get("gpu") == str(wanted[rule]["gpu"]) and "gpu_model" in res, block
            seen += 1
        elif rule in CPU_RULES:
            assert "gpu" not in res and "gpu_model" not in res, block
            assert res.get("mem_mb") == str(wanted[rule]["mem_mb"]), block
    assert seen == sum(counts.get(r, 0) for r in GPU_RULES)


@pytest.mark.parametrize("profile", [PROFILE, PROFILE_A100], ids=["slurm", "slurm-a100"])
def test_grid_batching_dry_run(tmp_path, profile):
    """The commented grid-batching lines parse: (a) groups alone, and (b) everything, with
    merge's gpu_model added and `--resources gpu=99` appended as the profile says."""
    block = grid_block(profile)
    assert block["groups"] == {"merge": "grid", "evaluate": "grid"}
    assert block["set-resource-scopes"] == {"gpu": "local"}
    base = load_profile(profile)
    config = ["--configfile", str(REPO / "config.yaml")]
    work_a, work_b = tmp_path / "a", tmp_path / "b"
    work_a.mkdir(), work_b.mkdir()
    only_groups = write_profile(tmp_path / "profile-a", {**base, "groups": block["groups"]})
    counts = job_counts(snakemake(work_a, "-n", "--profile", str(only_groups), *config).stdout)
    assert counts["merge"] and counts["evaluate"]
    full = {**base, **block}
    full["set-resources"]["merge"]["gpu_model"] = base["set-resources"]["evaluate"]["gpu_model"]
    full["set-resources"]["merge"]["slurm_partition"] = base["default-resources"]["slurm_partition"]
    batched = write_profile(tmp_path / "profile-b", full)
    proc = snakemake(work_b, "-n", "--profile", str(batched), *config, "--resources", "gpu=99")
    assert job_counts(proc.stdout) == counts


def test_profile_on_real_slurm(tmp_path):
    """Submit tests/slurm_workflow through profiles/slurm to a real SLURM and check that
    every job ran as a SLURM job, the GPU job saw exactly one GPU (one index in CUDA_VISIBLE_DEVICES),
    and the grouped merge->evaluate-like pairs ran together in one SLURM job."""
    partition = slurm_cluster()
    profile = load_profile(PROFILE)
    gpu_keys = {k: v for k, v in profile["set-resources"]["evaluate"].items()
                if k in ("gpu", "gpu_model", "gres", "tasks_per_gpu")}
    small = {"slurm_partition": partition, "mem_mb": 500, "runtime": 10}
    profile["default-resources"].update(small)
    profile["set-resources"] = {  # the profile's GPU request on the GPU rules, small jobs
        "gpu_probe": {**gpu_keys, **small},
        "pair_b": {**gpu_keys, **small},
        "pair_a": dict(small),
    }
    profile.pop("set-threads", None)
    profile.update({
        # no accounting database on a CI cluster: squeue (.ci/slurm-up sets MinJobAge=1d)
        "slurm-status-command": "squeue",
        "slurm-init-seconds-before-status-checks": 2,
        "seconds-between-status-checks": 2,
        "latency-wait": 5,
        "slurm-keep-successful-logs": True,
    })
    # The profile's grid-batching lines (b), on the test's merge-like and evaluate-like rules;
    # one CPU per group job, so that it fits any node.
    block = grid_block(PROFILE)
    rename = {"merge": "pair_a", "evaluate": "pair_b"}
    profile.update(block)
    profile["groups"] = {rename[rule]: group for rule, group in block["groups"].items()}
    profile["cores"] = 1
    profile["set-resources"]["pair_a"]["gpu_model"] = gpu_keys["gpu_model"]
    profile_dir = write_profile(tmp_path / "profile", profile)

    workdir = shared_workdir()
    proc = start_snakemake(TEST_WORKFLOW, workdir, profile_dir)
    code, out = finish(proc)
    assert code == 0, f"snakemake --executor slurm failed:\n{out[-8000:]}"

    def probe(name: str) -> dict[str, str]:
        return dict(kv.split("=", 1) for kv in (workdir / name).read_text().split())

    gpu = probe("gpu_probe.txt")
    one_gpu = re.compile(r"\d")  # the CI node has two (fake) GPUs: 0 or 1, never both
    assert one_gpu.fullmatch(gpu["CUDA_VISIBLE_DEVICES"]), gpu
    cpu = probe("cpu_probe.txt")
    pairs = [probe(f"pair_{ab}/{i}.txt") for ab in "ab" for i in (1, 2)]
    job_ids = {p["SLURM_JOB_ID"] for p in [gpu, cpu, *pairs]}
    assert all(re.fullmatch(r"\d+", j) for j in job_ids), f"not all ran under SLURM: {job_ids}"
    group_ids = {p["SLURM_JOB_ID"] for p in pairs}
    assert len(group_ids) == 1, f"the grouped jobs ran in several SLURM jobs: {pairs}"
    assert len({gpu["SLURM_JOB_ID"], cpu["SLURM_JOB_ID"], *group_ids}) == 3
    assert all(one_gpu.fullmatch(p["CUDA_VISIBLE_DEVICES"]) for p in pairs[2:]), pairs  # pair_b
    # one sbatch per ungrouped job plus one for the group; the GPU ones ask for the GPU type
    calls = {m.group(1): m.group(0) for m in re.finditer(
        r"sbatch call: .*?--comment (rule_\w+).*", out)}
    assert sorted(calls) == ["rule_cpu_probe", "rule_gpu_probe", "rule_grid_pair_a_pair_b"], out
    gpus = f"--gpus={gpu_keys['gpu_model']}:{gpu_keys['gpu']}"
    assert gpus in calls["rule_gpu_probe"] and gpus in calls["rule_grid_pair_a_pair_b"], calls
    assert "--gpus" not in calls["rule_cpu_probe"], calls
    assert list((workdir / ".snakemake" / "slurm_logs").glob("group_grid*/**/*.log"))
    shutil.rmtree(workdir, ignore_errors=True)


CPT_WORKFLOW = REPO / "tests" / "slurm_workflow" / "cpt" / "Snakefile"
CPT_STEPS = 600


def cpt_workdir() -> Path:
    """A work directory with a tiny tokenizer, packed windows and config.yaml for CPT_WORKFLOW."""
    workdir = shared_workdir()
    (workdir / "data").mkdir()
    tiny_training_data(workdir / "data")
    config = {"repo": str(REPO), "architecture": TINY_ARCH,
              "hp": dict(TINY_HP, dropout=0.0, steps=CPT_STEPS, zero_stage=2, log_every=10,
                         checkpoint_every=100)}
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    return workdir


def test_cpt_on_real_slurm_two_gpus_sigterm_then_resume():
    """The A100 profile's CPT job on a real SLURM: sbatch asks for two GPUs, the training
    script starts two processes with torchrun (DeepSpeed ZeRO-2 over gloo: the "GPUs" are
    fake), `scancel --signal=TERM` midway makes the run checkpoint and fail, and rerunning
    the workflow resumes from that step and finishes."""
    partition = slurm_cluster()
    profile = load_profile(PROFILE_A100)
    cpt = profile["set-resources"]["continual_pretrain"]
    assert cpt["gpu"] == 2 and "--signal=TERM@" in cpt["slurm_extra"]
    gpu_model = load_profile(PROFILE)["set-resources"]["evaluate"]["gpu_model"]  # the CI GRES
    profile["default-resources"].update(slurm_partition=partition, mem_mb=500, runtime=10)
    # runtime 30 min: the profile's SIGTERM 15 min before the walltime stays out of the way
    profile["set-resources"] = {"continual_pretrain": {**cpt, "gpu_model": gpu_model,
                                                       "mem_mb": 4000, "runtime": 30}}
    profile.pop("set-threads", None)
    profile.update({"slurm-status-command": "squeue", "seconds-between-status-checks": 2,
                    "slurm-init-seconds-before-status-checks": 2, "latency-wait": 5,
                    "retries": 0})  # the profile's retry would resume at once: rerun by hand
    profile_dir = write_profile(shared_workdir() / "profile", profile)
    workdir = cpt_workdir()
    metrics, log = workdir / "logs" / "cpt.csv", workdir / "logs" / "cpt.log"

    proc = start_snakemake(CPT_WORKFLOW, workdir, profile_dir)
    deadline = time.monotonic() + RUN_TIMEOUT
    while not (metrics.is_file() and metrics.read_text().count("\n") >= 3):  # two rows
        assert proc.poll() is None, f"the run ended before it was signalled:\n{proc.stdout.read()[-6000:]}"
        assert time.monotonic() < deadline, "no training rows within the timeout"
        time.sleep(0.5)
    jobs = subprocess.run(["squeue", "-h", "-t", "R", "-o", "%i %k"], capture_output=True,
                          text=True, check=True).stdout.splitlines()
    job_id = next(ln.split()[0] for ln in jobs if "rule_continual_pretrain" in ln)
    subprocess.run(["scancel", "--signal=TERM", job_id], check=True)
    code, out = finish(proc)
    text = log.read_text()
    assert code != 0, out[-4000:]
    assert re.search(r"sbatch call: .*--gpus=" + gpu_model + ":2", out), out[-4000:]
    assert "launching 1 x 2 processes (CUDA_VISIBLE_DEVICES=0,1)" in text, text[-4000:]
    assert "micro 4 x accumulation 1 x 2 processes, zero 2" in text, text[-4000:]
    stopped = re.search(rf"stopped by SIGTERM after step (\d+)/{CPT_STEPS}; checkpoint saved", text)
    assert stopped, text[-4000:]
    step = int(stopped.group(1))
    assert 20 <= step < CPT_STEPS and not (workdir / "cpt").exists()
    assert (workdir / ".cpt.resume" / "latest").read_text().strip() == f"step{step}"

    code, out = finish(start_snakemake(CPT_WORKFLOW, workdir, profile_dir))
    assert code == 0, out[-8000:]
    text = log.read_text()
    assert f"resuming after step {step}" in text, text[-4000:]
    with open(workdir / "cpt" / "train_log.csv", newline="") as fh:
        steps = [int(row["step"]) for row in csv.DictReader(fh)]
    assert steps == list(range(10, CPT_STEPS + 1, 10))
    assert any((workdir / "cpt").glob("*.safetensors")) and not (workdir / ".cpt.resume").exists()
    shutil.rmtree(workdir, ignore_errors=True)
    shutil.rmtree(profile_dir.parent, ignore_errors=True)


def test_several_node_launch_runs_torchrun_under_srun_with_a_rendezvous():
    """The several-node path of the training launcher (srun starts one torchrun per node of
    the allocation; they meet at a c10d rendezvous), on this one-node SLURM: an sbatch job
    calls `launch` with an explicit rendezvous, which takes that path on one node too."""
    partition = slurm_cluster()
    workdir = cpt_workdir()
    config = yaml.safe_load((workdir / "config.yaml").read_text())
    kwargs = dict(tokens_bin=str(workdir / "data" / "t.bin"), meta_json=str(workdir / "data" / "t.json"),
                  tokenizer_dir=str(workdir / "data" / "tok"), out_dir=str(workdir / "cpt"),
                  hp=dict(config["hp"], steps=20, checkpoint_every=0),
                  architecture=config["architecture"], threads=1)
    (workdir / "kwargs.json").write_text(json.dumps(kwargs))
    log = workdir / "launch.log"
    code = (
        "import json, socket; from wasurenai.common import get_logger; from wasurenai.train import launch, _free_port; "
        f"launch(json.load(open({str(workdir / 'kwargs.json')!r})), 2, 1, {str(log)!r}, "
        f"get_logger('launch', {str(log) + '.parent'!r}), rendezvous=f'{{socket.gethostname()}}:{{_free_port()}}')"
    )
    proc = subprocess.run(
        ["sbatch", "--wait", f"--partition={partition}", "--nodes=1", "--ntasks=1", "-c", "2",
         "--mem=3000", "-t", "10", f"--output={workdir / 'job.out'}", "--wrap",
         f"{sys.executable} -c {shlex.quote(code)}"],
        capture_output=True, text=True, timeout=RUN_TIMEOUT, cwd=workdir)
    out = (workdir / "job.out").read_text() if (workdir / "job.out").exists() else ""
    text = (workdir / "launch.log.parent").read_text() + log.read_text()
    assert proc.returncode == 0, f"{proc.stderr}\n{out[-3000:]}\n{text[-4000:]}"
    assert re.search(r"srun --overlap --nodes=1 --ntasks=1 --ntasks-per-node=1 .*torch.distributed.run "
                     r"--nproc-per-node=2 --nnodes=1 --rdzv-backend=c10d --rdzv-endpoint=\S+:\d+", text), text
    assert "micro 4 x accumulation 1 x 2 processes" in text, text[-4000:]
    assert any((workdir / "cpt").glob("*.safetensors"))
    shutil.rmtree(workdir, ignore_errors=True)


INTERRUPT_WORKFLOW = REPO / "tests" / "slurm_workflow" / "interrupt" / "Snakefile"


def small_profile(partition: str) -> dict:
    """profiles/slurm with its execution settings (rerun-incomplete, keep-incomplete,
    retries, ...) and small jobs for the CI cluster (squeue: no accounting there)."""
    profile = load_profile(PROFILE)
    profile["default-resources"].update(slurm_partition=partition, mem_mb=500, runtime=10)
    profile.pop("set-resources"), profile.pop("set-threads")
    profile.update({"slurm-status-command": "squeue", "seconds-between-status-checks": 1,
                    "slurm-init-seconds-before-status-checks": 2, "latency-wait": 5})
    return profile


def jobs_in(workdir: Path) -> dict[str, tuple[str, str]]:
    """SLURM job id -> (state, rule) of the jobs that run in ``workdir``."""
    out = subprocess.run(["squeue", "-h", "-o", "%i|%T|%k|%Z"], capture_output=True, text=True,
                         check=True).stdout
    rows = (ln.split("|") for ln in out.splitlines())
    return {i: (state, rule) for i, state, rule, where in rows if Path(where) == workdir}


def test_interrupted_run_on_real_slurm_reruns_without_losing_outputs(tmp_path):
    """Ctrl-C (then SIGKILL) of the main Snakemake while jobs run and wait on SLURM, scancel
    of what is left, and the same command again: the DAG completes, and the output `base`
    had already written is kept (not deleted by its cancelled job, not rebuilt)."""
    partition = slurm_cluster()
    profile_dir = write_profile(tmp_path / "profile", small_profile(partition))
    workdir = shared_workdir()
    output = workdir / "models" / "base" / "tiny"
    proc = start_snakemake(INTERRUPT_WORKFLOW, workdir, profile_dir)
    deadline = time.monotonic() + RUN_TIMEOUT
    while not (output / "job").is_file():
        assert proc.poll() is None, proc.stdout.read()[-6000:]
        assert time.monotonic() < deadline, "base wrote nothing within the timeout"
        time.sleep(0.05)
    base_job = (output / "job").read_text().strip()
    running = jobs_in(workdir)
    assert running.get(base_job, ("", ""))[0] == "RUNNING", running  # base's job still runs
    others = [state for i, (state, _) in running.items() if i != base_job]
    assert others and set(others) <= {"PENDING", "RUNNING"}, running  # slow (and queued)

    proc.send_signal(signal.SIGINT)  # Ctrl-C: Snakemake scancels its jobs, then unlocks
    try:
        first, _ = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        first, _ = proc.communicate()
    left = [i for i, (state, _) in jobs_in(workdir).items() if state in ("PENDING", "RUNNING")]
    if left:
        subprocess.run(["scancel", *left], check=True)
    if (workdir / ".snakemake" / "locks").is_dir() and any((workdir / ".snakemake" / "locks").iterdir()):
        subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(INTERRUPT_WORKFLOW),
                        "--directory", str(workdir), "--unlock"], check=True, cwd=workdir)
    for _ in range(20):  # the cancelled jobs' own Snakemake exits after scancel returns
        if not jobs_in(workdir):
            break
        time.sleep(0.5)
    assert (output / "job").is_file(), f"base's output was deleted by the interruption:\n{first[-6000:]}"

    code, out = finish(start_snakemake(INTERRUPT_WORKFLOW, workdir, profile_dir))
    assert code == 0, out[-8000:]
    assert (output / "job").read_text().strip() == base_job, "base was rebuilt"
    assert "--comment rule_base" not in out, out[-6000:]
    for i in (1, 2):
        assert (workdir / "use" / f"{i}.txt").read_text().strip() == base_job
    assert (workdir / "slow.txt").is_file() and (workdir / "queued.txt").is_file()
    shutil.rmtree(workdir, ignore_errors=True)


SEARCH_WORKFLOW = REPO / "tests" / "slurm_workflow" / "search" / "Snakefile"


def test_a_search_with_two_workers_on_real_slurm_shares_one_study():
    """Two search_worker jobs (the profile's GPU resources) on one Optuna journal on the shared
    filesystem: both run trials, every trial of the budget is run once, none lost or repeated;
    the front is computed once both have finished."""
    from helpers_eval import EVAL_CFG, build_model, write_datasets

    partition = slurm_cluster()
    profile = small_profile(partition)
    worker = load_profile(PROFILE)["set-resources"]["search_worker"]
    profile["set-resources"] = {"search_worker": {**worker, "mem_mb": 2000, "runtime": 10}}
    profile_dir = write_profile(shared_workdir() / "profile", profile)
    workdir = shared_workdir()
    for i, role in enumerate(["base", "ja-en", "en-ja"]):
        build_model(workdir / "models" / role, seed=i)
    write_datasets(workdir / "data")
    shutil.copytree(workdir / "data" / "test", workdir / "data" / "dev")
    spec = {"method": "linear", "space": {"base_share": [0.0, 1.0]}, "objectives": ["AVG", "MT"],
            "trials": 10, "sampler": "tpe", "seed": 0, "workers": 2, "max_samples": 5}
    config = {"repo": str(REPO), "spec": spec, "directions": ["ja-en", "en-ja"],
              "cfg": {**EVAL_CFG, "dataset_dir": "data/test"}}
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))

    code, out = finish(start_snakemake(SEARCH_WORKFLOW, workdir, profile_dir))
    assert code == 0, out[-8000:]
    calls = re.findall(r"sbatch call: .*--comment rule_search_worker.*", out)
    assert len(calls) == 2 and all("--gpus=" in c for c in calls), out[-4000:]
    ran = [json.loads((workdir / "search" / "tiny" / "s" / f"worker{w}.json").read_text())["trials"]
           for w in (0, 1)]
    assert all(ran), f"a worker ran no trial: {ran}"
    trials = pd.read_csv(workdir / "search" / "tiny" / "s" / "trials.csv")
    done = trials[trials["state"] == "COMPLETE"]
    assert len(done) == 10, trials  # the budget, over both workers
    assert sorted(ran[0] + ran[1]) == sorted(done["trial"]), ran  # none lost, none run twice
    assert (trials.loc[trials["state"] != "COMPLETE", "surplus"]).all()  # only a withdrawn extra
    for w in (0, 1):
        assert sorted(done.loc[done["worker"] == w, "trial"]) == sorted(ran[w])
    shutil.rmtree(workdir, ignore_errors=True)
    shutil.rmtree(profile_dir.parent, ignore_errors=True)
