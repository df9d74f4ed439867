"""The DAG as Snakemake sees it: job counts, config validation, lint."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from helpers import REPO, job_counts, snakemake
from helpers_eval import write_llm_jp_eval_layout
from wasurenai.llm_jp_eval import resolve_categories

PAPER_DATASETS = sorted({d for ms in resolve_categories("paper").values() for d, _ in ms})


def dry_run(workdir: Path, *configfiles: Path, check: bool = True):
    args = ["-n", "--cores", "1"]
    if configfiles:
        args += ["--configfile", *map(str, configfiles)]
    return snakemake(workdir, *args, check=check)


def test_default_dag_has_every_job(workdir):
    counts = job_counts(dry_run(workdir, REPO / "config.yaml").stdout)
    assert counts["continual_pretrain"] == 4
    assert counts["merge"] == 20  # 2 bases x (4 named merges + 2 sweeps x 3 points)
    assert counts["evaluate"] == 26  # 2 bases x {base, ja-en, en-ja, 10 merges}
    assert counts["prepare_corpus"] == 2
    assert counts["build_demo_base"] == 2
    assert counts["aggregate"] == 1


def test_snakefile_loads_the_default_without_configfile(workdir):
    (workdir / "config.yaml").write_text((REPO / "config.yaml").read_text())
    counts = job_counts(snakemake(workdir, "-n", "--cores", "1").stdout)
    assert counts["evaluate"] == 26


def _write_config(workdir: Path, mutate) -> Path:
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    mutate(cfg)
    path = workdir / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True))
    return path


def test_unknown_config_key_fails_naming_it(workdir):
    bad = _write_config(workdir, lambda c: c["cpt"].update(learning_rate=1e-3))
    proc = dry_run(workdir, bad, check=False)
    assert proc.returncode != 0
    assert "learning_rate" in proc.stderr + proc.stdout


def test_mistyped_config_value_fails_naming_it(workdir):
    bad = _write_config(workdir, lambda c: c["corpus"].update(pairs_per_direction="many"))
    proc = dry_run(workdir, bad, check=False)
    assert proc.returncode != 0
    out = proc.stderr + proc.stdout
    assert "pairs_per_direction" in out and "many" in out


def test_merge_weight_for_unknown_role_fails_naming_the_merge(workdir):
    bad = _write_config(workdir, lambda c: c["merges"]["linear"]["weights"].update(fr_en=0.1))
    proc = dry_run(workdir, bad, check=False)
    assert proc.returncode != 0
    assert "merges.linear.weights.fr_en" in proc.stderr + proc.stdout


def test_lint_is_clean():
    proc = snakemake(REPO, "--lint", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Congratulations" in proc.stdout + proc.stderr


def test_comet_requested_without_checkpoint_fails_when_the_dag_is_built(workdir):
    def mutate(c):
        c["evaluation"]["comet"] = {"checkpoint": None}
        c["evaluation"]["categories"]["MT"] = ["synth_mt_j_to_e:comet_wmt22", "synth_mt_e_to_j"]
    proc = dry_run(workdir, _write_config(workdir, mutate), check=False)
    assert proc.returncode != 0
    out = proc.stderr + proc.stdout
    assert "evaluation.comet.checkpoint" in out and "synth_mt_j_to_e:comet_wmt22" in out


def test_comet_not_requested_builds_no_comet(workdir):
    def no_comet(c):  # MT by BERTScore instead of COMET, and no checkpoint
        c["evaluation"].update(comet={"checkpoint": None})
        c["evaluation"]["categories"]["MT"] = ["synth_mt_j_to_e:bert_score_en_f1",
                                               "synth_mt_e_to_j:bert_score_ja_f1"]
    bad = _write_config(workdir, no_comet)
    counts = job_counts(dry_run(workdir, bad).stdout)
    assert "demo_comet" not in counts and counts["evaluate"] == 26
    assert job_counts(dry_run(workdir, REPO / "config.yaml").stdout)["demo_comet"] == 1


def test_evaluation_config_errors_name_the_key(workdir, tmp_path):
    cases = [
        (lambda c: c["evaluation"].update(categories="v9"), "evaluation.categories"),
        (lambda c: c["evaluation"]["comet"].update(checkpoint=str(tmp_path / "nope")),
         "evaluation.comet.checkpoint"),
        (lambda c: c["evaluation"]["translation"].update({"ja-en": {"path": str(tmp_path / "x.tsv")}}),
         "evaluation.translation.ja-en.path"),
    ]
    for mutate, key in cases:
        proc = dry_run(workdir, _write_config(workdir, mutate), check=False)
        assert proc.returncode != 0 and key in proc.stderr + proc.stdout, key


def test_translation_file_is_an_input_of_every_evaluation(workdir):
    tsv = workdir / "alt ja-en.tsv"  # a space in the path
    tsv.write_text("猫。\tCat.\n", encoding="utf-8")
    cfg = _write_config(workdir, lambda c: c["evaluation"]["translation"].update(
        {"ja-en": {"path": str(tsv)}}))
    proc = snakemake(workdir, "-n", "--cores", "1", "--configfile", str(cfg), "-p", "--forceall")
    assert job_counts(proc.stdout)["evaluate"] == 26
    assert proc.stdout.count(str(tsv)) >= 26


def test_in_memory_sweep_replaces_its_merge_and_evaluate_jobs(workdir):
    def mutate(c):
        c["sweeps"]["linear-sweep"]["in_memory"] = True
    counts = job_counts(dry_run(workdir, _write_config(workdir, mutate)).stdout)
    assert counts["sweep_linear-sweep"] == 2  # one job per base for its 3 points
    assert counts["merge"] == 20 - 6 and counts["evaluate"] == 26 - 6


def test_a_search_runs_its_workers_per_base_and_its_front_points_after_the_checkpoint(workdir):
    def mutate(c):
        c["searches"]["frontier"]["workers"] = 3
    proc = dry_run(workdir, _write_config(workdir, mutate))
    counts = job_counts(proc.stdout)
    assert counts["search_worker"] == 6 and counts["search_front"] == 2  # 2 bases x 3 workers
    assert counts["search_report"] == 1
    assert "checkpoint jobs" in proc.stdout + proc.stderr  # the front's merges come after it
    assert counts["evaluate"] == 26  # no front point known yet


def test_a_bad_search_fails_the_dry_run_naming_the_key(workdir):
    def mutate(c):
        c["searches"]["frontier"]["space"]["density"] = [0.0, 1.0]
    proc = dry_run(workdir, _write_config(workdir, mutate), check=False)
    assert proc.returncode != 0
    assert "config key searches.frontier.space.density" in proc.stderr, proc.stderr[-3000:]


def test_bad_sweep_point_fails_naming_the_sweep(workdir):
    def mutate(c):
        c["sweeps"]["ties-sweep"]["epsilon"] = [0.1, 0.2]  # ties has no epsilon
    proc = dry_run(workdir, _write_config(workdir, mutate), check=False)
    assert proc.returncode != 0
    assert "sweeps.ties-sweep (point ties-sweep-share0.2-epsilon0.1)" in proc.stderr + proc.stdout


def paper_workdir(workdir: Path) -> Path:
    """What a user downloads by hand for the paper preset (the bases are fetched by rules)."""
    (workdir / "data" / "jparacrawl").mkdir(parents=True)
    (workdir / "data" / "jparacrawl" / "en-ja.bicleaner05.txt").write_text("")
    write_llm_jp_eval_layout(workdir / "data" / "llm-jp-eval", PAPER_DATASETS, 1, 4)
    (workdir / "models" / "wmt22-comet-da" / "checkpoints").mkdir(parents=True)
    return workdir


def test_paper_preset_dry_run_lists_every_missing_dataset(workdir):
    root = paper_workdir(workdir) / "data" / "llm-jp-eval" / "1.3.0" / "evaluation"
    (root / "test" / "mbpp.json").unlink()
    (root / "train" / "jsquad.json").unlink()
    proc = dry_run(workdir, REPO / "configs" / "llm-jp-3-3.7b.yaml", check=False)
    out = proc.stderr + proc.stdout
    assert proc.returncode != 0
    assert "config key evaluation.dataset_dir: datasets of evaluation.categories" in out
    assert "data/llm-jp-eval/1.3.0/evaluation/test/mbpp.json (dataset mbpp)" in out
    assert f"{root.resolve()}/train/jsquad.json (dataset jsquad)" in out


def test_paper_preset_dry_run_lists_the_full_dag(workdir):
    counts = job_counts(dry_run(paper_workdir(workdir), REPO / "configs" / "llm-jp-3-3.7b.yaml").stdout)
    assert counts["fetch_base_llm-jp-3-3.7b"] == counts["fetch_base_llm-jp-3-3.7b-instruct"] == 1
    assert counts["prepare_corpus"] == 2
    assert counts["tokenize"] == 2  # both bases share the llm-jp-3 tokenizer
    assert counts["continual_pretrain"] == 4
    assert counts["merge"] == 2 * (4 + 9 + 9)  # Table 2's merges and the Figure 2 sweeps
    assert counts["evaluate"] == 2 * (3 + 4 + 18)
    assert "demo_comet" not in counts and "synthesize_data" not in counts
    for rule in ("aggregate", "plot_sweeps", "plot_tradeoff", "plot_retention", "recommend",
                 "plot_training"):  # the report: one job each, reference tables included
        assert counts[rule] == 1, rule


def test_report_config_errors_name_the_key(workdir):
    bad_ref = workdir / "ref.yaml"
    bad_ref.write_text("table1:\n  Base:\n    base: {AVG: 0.4, ja-en BLUE: 12}\n")
    cases = [
        (lambda c: c["report"].update(reference=str(workdir / "nope.yaml")), "report.reference"),
        (lambda c: c["report"].update(reference=str(bad_ref)), "'ja-en BLUE' is not a Table 1 column"),
        (lambda c: c["report"].update(budget={"max_avg_drop": 0.01, "maximise": "BLEU"}),
         "report.budget.maximise: 'BLEU' is not one of MT, AVG, "),
        (lambda c: c["report"].update(budget={"max_avg_drop": -1, "maximise": "MT"}), "max_avg_drop"),
    ]
    for mutate, message in cases:
        proc = dry_run(workdir, _write_config(workdir, mutate), check=False)
        assert proc.returncode != 0 and message in proc.stderr + proc.stdout, message


def test_default_dag_has_the_report(workdir):
    counts = job_counts(dry_run(workdir, REPO / "config.yaml").stdout)
    for rule in ("plot_sweeps", "plot_tradeoff", "plot_retention", "recommend", "plot_training"):
        assert counts[rule] == 1, rule
    cfg = _write_config(workdir, lambda c: c.pop("sweeps"))
    assert "plot_sweeps" not in job_counts(dry_run(workdir, cfg).stdout)  # no sweeps, no Figure 2


def test_paper_preset_missing_model_without_hub_says_what_to_download(workdir):
    cfg = yaml.safe_load((REPO / "configs" / "llm-jp-3-3.7b.yaml").read_text())
    del cfg["bases"]["llm-jp-3-3.7b"]["hub"]
    path = paper_workdir(workdir) / "paper.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True))
    proc = dry_run(workdir, path, check=False)
    out = proc.stderr + proc.stdout
    assert proc.returncode != 0
    assert "bases.llm-jp-3-3.7b.path: models/llm-jp-3-3.7b does not exist" in out
    assert "huggingface-cli download" in out


@pytest.mark.parametrize("missing, key, hint", [
    ("data/jparacrawl/en-ja.bicleaner05.txt", "corpus.path", "JParaCrawl v3.0"),
    ("data/llm-jp-eval/1.3.0/evaluation/test", "evaluation.dataset_dir", "preprocess_dataset.py"),
    ("models/wmt22-comet-da", "evaluation.comet.checkpoint", "Unbabel/wmt22-comet-da"),
])
def test_paper_preset_missing_download_says_what_and_where(workdir, missing, key, hint):
    target = paper_workdir(workdir) / missing
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    proc = dry_run(workdir, REPO / "configs" / "llm-jp-3-3.7b.yaml", check=False)
    out = proc.stderr + proc.stdout
    assert proc.returncode != 0
    assert f"config key {key}: {missing} does not exist;" in out and hint in out, out[-3000:]


@pytest.mark.parametrize("section, name", [
    ("merges", "a b;touch /tmp/x"), ("merges", "../../escape"), ("bases", "my base"),
    ("sweeps", "../sweep"),
])
def test_unsafe_names_fail_the_dry_run_naming_the_key(workdir, section, name):
    def mutate(c):
        entry = {"merges": c["merges"]["linear"], "sweeps": c["sweeps"]["linear-sweep"],
                 "bases": c["bases"]["tiny"]}[section]
        c[section][name] = dict(entry)
    proc = dry_run(workdir, _write_config(workdir, mutate), check=False)
    out = proc.stderr + proc.stdout
    assert proc.returncode != 0
    assert f"config key {section}.{name}: {name!r} is not a valid name" in out
    assert "MissingInputException" not in out


def test_merge_named_like_a_model_role_fails_naming_both(workdir):
    bad = _write_config(workdir, lambda c: c["merges"].update({"en-ja": c["merges"]["linear"]}))
    proc = dry_run(workdir, bad, check=False)
    assert proc.returncode != 0
    assert "config key merges.en-ja: the name 'en-ja' is also the model role 'en-ja'" in proc.stderr + proc.stdout


def test_two_sweeps_with_one_point_name_fail_naming_both(workdir):
    def mutate(c):
        c["sweeps"]["linear-sweep-share0.5"] = {"label": "Again", "method": "linear", "base_share": 0.5}
    proc = dry_run(workdir, _write_config(workdir, mutate), check=False)
    assert proc.returncode != 0
    assert ("config key sweeps.linear-sweep-share0.5: grid point 'linear-sweep-share0.5' clashes "
            "with sweeps.linear-sweep") in proc.stderr + proc.stdout


@pytest.mark.parametrize("field, value, message", [
    ("family", "no-such-family", "config key demo.architecture.family = 'no-such-family'"),
    ("rotary_pct", 0.5, "config key demo.architecture.rotary_pct: llama configs have no such field"),
])
def test_demo_architecture_errors_fail_the_dry_run_naming_the_key(workdir, field, value, message):
    bad = _write_config(workdir, lambda c: c["demo"]["architecture"].update({field: value}))
    proc = dry_run(workdir, bad, check=False)
    assert proc.returncode != 0
    assert message in proc.stderr + proc.stdout


def test_failing_job_ends_with_snakemakes_own_error(workdir):
    """A job that fails ends the run with Snakemake's own message, as Snakemake prints it:
    nothing the Snakefiles import replaces Snakemake's WorkflowError (which once turned this
    into a raw traceback of wasurenai.common.WorkflowError)."""
    paper_workdir(workdir)  # its corpus is an empty file: prepare_corpus fails on min_pairs
    proc = snakemake(workdir, "--cores", "1", "--configfile",
                     str(REPO / "configs" / "llm-jp-3-3.7b.yaml"), "--until", "prepare_corpus",
                     check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "Error in rule prepare_corpus" in out and "fewer than corpus.min_pairs" in out
    after_jobs = out.rsplit("Complete log(s):", 1)[1]
    assert after_jobs.rstrip().endswith("WorkflowError:\nAt least one job did not complete successfully.")
    assert "Traceback" not in after_jobs and "wasurenai" not in after_jobs


NAMESPACE_PROBE = """
import json, sys
from pathlib import Path
from snakemake.api import SnakemakeApi
from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings

snakefile, *configfiles = sys.argv[1:]
with SnakemakeApi(OutputSettings()) as api:
    workflow = api.workflow(
        resource_settings=ResourceSettings(cores=1), snakefile=Path(snakefile), workdir=Path.cwd(),
        config_settings=ConfigSettings(configfiles=[Path(c) for c in configfiles]))._workflow
    names, snakemakes = workflow.globals, workflow.vanilla_globals
    print(json.dumps({"replaced": sorted(k for k, v in snakemakes.items() if names.get(k) is not v),
                      "local": sorted(workflow._localrules)}))
"""


def probe_namespace(workdir: Path, snakefile: Path, *configfiles: Path) -> dict:
    """The Snakemake names a parsed Snakefile rebinds, and its local rules."""
    proc = subprocess.run([sys.executable, "-c", NAMESPACE_PROBE, str(snakefile), *map(str, configfiles)],
                          capture_output=True, text=True, cwd=workdir, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_no_name_of_the_snakefiles_replaces_one_of_snakemakes(workdir):
    (workdir / "empty").mkdir()
    (workdir / "empty" / "Snakefile").write_text("rule all:\n    output: 'x'\n    shell: 'touch x'\n")
    baseline = probe_namespace(workdir / "empty", workdir / "empty" / "Snakefile")["replaced"]
    for configs in ([REPO / "config.yaml"], [REPO / "config.yaml", REPO / "configs" / "smoke.yaml"]):
        probe = probe_namespace(workdir, REPO / "Snakefile", *configs)
        assert probe["replaced"] == baseline, set(probe["replaced"]) - set(baseline)


def test_report_rules_run_in_the_main_process(workdir):
    local = probe_namespace(workdir, REPO / "Snakefile", REPO / "config.yaml")["local"]
    assert {"aggregate", "plot_sweeps", "plot_tradeoff", "plot_retention", "recommend",
            "plot_training", "search_front", "search_report"} <= set(local)
    assert not {"evaluate", "merge", "continual_pretrain", "search_worker", "merge_search_point"} & set(local)


def test_rule_all_need_not_be_the_last_rule(workdir):
    """rule all's targets come from an input function, so it may stand anywhere."""
    text = (REPO / "Snakefile").read_text()
    rule_all = text[text.index("rule all:"):]
    first = text[:text.index("rule all:")].replace('include: "workflow/', f'include: "{REPO}/workflow/')
    first = first.replace('configfile: "config.yaml"', f'configfile: "{REPO}/config.yaml"')
    head, rules = first.split(f'\ninclude: "{REPO}/workflow/rules/fetch.smk"', 1)
    (workdir / "Snakefile").write_text(  # rule all right after common.smk, before every rule
        f'{head}\n{rule_all}\n\ninclude: "{REPO}/workflow/rules/fetch.smk"{rules}')
    (workdir / "scripts").symlink_to(REPO / "scripts")  # beside the Snakefile, as in the repo
    assert text.index("rule all:") > text.index("report.smk")  # the repo's order, reversed above
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1"], cwd=workdir,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert job_counts(proc.stdout) == job_counts(dry_run(workdir, REPO / "config.yaml").stdout)
