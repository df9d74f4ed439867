# Continual pretraining (DeepSpeed), one run per base model x translation direction.
# resources: gpu = the job's GPUs (all nodes), nodes = its nodes. More than one GPU: the
# script starts one process per GPU with torchrun (srun + torchrun over several nodes).


rule continual_pretrain:
    input:
        model=lambda w: base_model_dir(w.base),
        tokenizer=lambda w: tokenizer_dir(tokenizer_name(w.base)),
        tokens=lambda w: f"{R}/tokens/{tokenizer_name(w.base)}/{w.direction}.bin",
        meta=lambda w: f"{R}/tokens/{tokenizer_name(w.base)}/{w.direction}.json",
    output:
        directory(f"{R}/models/cpt/{{base}}/{{direction}}"),
    log:
        log=f"{R}/logs/continual_pretrain/{{base}}/{{direction}}.log",
        metrics=f"{R}/logs/continual_pretrain/{{base}}/{{direction}}.csv",  # rewritten every log_every steps
    benchmark:
        f"{R}/benchmarks/continual_pretrain/{{base}}/{{direction}}.tsv"
    threads: 8
    resources:
        gpu=1,
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/continual_pretrain.py"
