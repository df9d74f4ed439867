# Continual pretraining (DeepSpeed), one run per base model x translation direction.


rule continual_pretrain:
    input:
        model=lambda w: base_model_dir(w.base),
        tokenizer=lambda w: tokenizer_dir(tokenizer_name(w.base)),
        tokens=lambda w: f"{R}/tokens/{tokenizer_name(w.base)}/{w.direction}.bin",
        meta=lambda w: f"{R}/tokens/{tokenizer_name(w.base)}/{w.direction}.json",
    output:
        directory(f"{R}/models/cpt/{{base}}/{{direction}}"),
    params:
        hp=train_hp({}),
        architecture=None,
    log:
        f"{R}/logs/continual_pretrain/{{base}}/{{direction}}.log",
    benchmark:
        f"{R}/benchmarks/continual_pretrain/{{base}}/{{direction}}.tsv"
    threads: 8
    resources:
        gpu=1,
    conda:
        "../../envs/train.yaml"
    script:
        "../../scripts/train.py"
