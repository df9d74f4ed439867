# Continual pretraining (DeepSpeed), one run per base model x translation direction.
# resources: gpu = the job's GPUs (all nodes), nodes = its nodes. More than one GPU: the
# script starts one process per GPU with torchrun (srun + torchrun over several nodes).


rule continual_pretrain:
    input:
        model=lambda w: base_model_dir(w.base),
        tokenizer=lambda w: tokenizer_dir(RESOLVED.bases[w.base].tokenizer),
        tokens=lambda w: f"{RESULTS}/tokens/{RESOLVED.bases[w.base].tokenizer}/{w.direction}.bin",
        meta=lambda w: f"{RESULTS}/tokens/{RESOLVED.bases[w.base].tokenizer}/{w.direction}.json",
    output:
        directory(f"{RESULTS}/models/cpt/{{base}}/{{direction}}"),
    log:
        log=f"{RESULTS}/logs/continual_pretrain/{{base}}/{{direction}}.log",
        metrics=f"{RESULTS}/logs/continual_pretrain/{{base}}/{{direction}}.csv",  # rewritten every log_every steps
    benchmark:
        f"{RESULTS}/benchmarks/continual_pretrain/{{base}}/{{direction}}.tsv"
    conda:
        "../../envs/train.yaml"
    threads: 8
    resources:
        gpu=1,
    params:
        hp=RESOLVED.hyperparameters["cpt"],
    script:
        "../scripts/continual_pretrain.py"
