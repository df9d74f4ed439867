# The embedded default's own inputs: synthetic data and the two tiny base models.
# None of these rules runs for a config whose corpus, datasets and bases are real paths.

from wasurenai.config import demo_comet_dir  # noqa: E402
from wasurenai.llm_jp_eval import dataset_path  # noqa: E402
from wasurenai.synthetic import split_dir  # noqa: E402

SYNTH = f"{RESULTS}/data/synthetic"
SYNTH_TRAIN = str(split_dir(SYNTH_DATASETS, "train"))
# the general tasks: every evaluated dataset but the translation columns' MT sets
DEMO_GENERAL_DATASETS = [d for d in EVAL.datasets if d not in config["evaluation"]["translation"].values()]


rule synthesize_data:
    output:
        corpus=f"{SYNTH}/jparacrawl.tsv",
        monolingual=f"{SYNTH}/monolingual.jsonl",
        datasets=directory(SYNTH_DATASETS),
    log:
        f"{RESULTS}/logs/synthesize_data.log",
    conda:
        "../../envs/core.yaml"
    params:
        cfg=config["synthetic"],
    script:
        "../scripts/synthesize_data.py"


rule demo_tokenizer:
    input:
        monolingual=rules.synthesize_data.output.monolingual,
        corpus=rules.synthesize_data.output.corpus,
        datasets=rules.synthesize_data.output.datasets,
    output:
        directory(f"{RESULTS}/models/demo/tokenizer"),
    log:
        f"{RESULTS}/logs/demo_tokenizer.log",
    conda:
        "../../envs/core.yaml"
    params:
        vocab_size=config["demo"]["tokenizer"]["vocab_size"],
        train_dir=SYNTH_TRAIN,
    script:
        "../scripts/demo_tokenizer.py"


rule demo_texts:
    input:
        monolingual=rules.synthesize_data.output.monolingual,
        datasets=rules.synthesize_data.output.datasets,
    output:
        pretrain=f"{RESULTS}/corpus/demo-pretrain.jsonl",
        instruct=f"{RESULTS}/corpus/demo-instruct.jsonl",
    log:
        f"{RESULTS}/logs/demo_texts.log",
    conda:
        "../../envs/core.yaml"
    params:
        train_dir=SYNTH_TRAIN,
        # Both bases see the general tasks' train splits only, no translation in llm-jp-eval's
        # prompt format: what they translate comes from the loose parallel pairs of the
        # pretraining text (synthetic.pretrain_parallel_pairs), so CPT is what teaches it.
        pretrain_datasets=DEMO_GENERAL_DATASETS,
        instruct_datasets=DEMO_GENERAL_DATASETS,
        num_few_shots=config["evaluation"]["num_few_shots"],
        seed=config["synthetic"]["seed"],
    script:
        "../scripts/demo_texts.py"


rule build_demo_base:
    input:
        unpack(demo_base_inputs),
    output:
        directory(f"{RESULTS}/models/base/{{base}}"),
    log:
        log=f"{RESULTS}/logs/build_demo_base/{{base}}.log",
        metrics=f"{RESULTS}/logs/build_demo_base/{{base}}.csv",
    benchmark:
        f"{RESULTS}/benchmarks/build_demo_base/{{base}}.tsv"
    conda:
        "../../envs/train.yaml"
    threads: 8
    params:
        hp=lambda w: RESOLVED.hyperparameters[RESOLVED.bases[w.base].demo],
        architecture=lambda w: (config["demo"]["architecture"] if RESOLVED.bases[w.base].demo == "pretrain" else None),
    script:
        "../scripts/build_demo_base.py"


rule demo_comet:
    """A tiny but real COMET (unbabel-comet RegressionMetric on the packaged MiniLM
    encoder), fitted briefly on the synthetic MT train splits with chrF labels."""
    input:
        datasets=rules.synthesize_data.output.datasets,
    output:
        directory(demo_comet_dir(RESULTS)),
    log:
        f"{RESULTS}/logs/demo_comet.log",
    benchmark:
        f"{RESULTS}/benchmarks/demo_comet.tsv"
    conda:
        "../../envs/evaluate.yaml"
    threads: 1
    params:
        encoder=EVAL.comet_demo["encoder"],
        seed=EVAL.comet_demo["seed"],
        steps=EVAL.comet_demo["steps"],
        # relative to input.datasets (the synthesized root)
        train_sets=[
            str(dataset_path(split_dir("", "train"), e))
            for e in config["evaluation"]["translation"].values()
            if isinstance(e, str)
        ],
    script:
        "../scripts/demo_comet.py"
