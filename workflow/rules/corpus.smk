# Parallel corpus -> cleaned, sampled, prompt-formatted text per direction -> packed tokens.


rule prepare_corpus:
    input:
        corpus=config["corpus"]["path"],
    output:
        text=f"{RESULTS}/corpus/{{direction}}.jsonl",
        report=f"{RESULTS}/corpus/{{direction}}.report.json",
    log:
        f"{RESULTS}/logs/prepare_corpus/{{direction}}.log",
    conda:
        "../../envs/core.yaml"
    params:
        cfg=config["corpus"],
    script:
        "../scripts/prepare_corpus.py"


rule tokenize:
    input:
        text=f"{RESULTS}/corpus/{{dataset}}.jsonl",
        tokenizer=lambda w: tokenizer_dir(w.tokenizer),
    output:
        bin=f"{RESULTS}/tokens/{{tokenizer}}/{{dataset}}.bin",
        meta=f"{RESULTS}/tokens/{{tokenizer}}/{{dataset}}.json",
    log:
        f"{RESULTS}/logs/tokenize/{{tokenizer}}/{{dataset}}.log",
    conda:
        "../../envs/core.yaml"
    params:
        window=config["tokenize"]["window"],
    script:
        "../scripts/tokenize_corpus.py"
