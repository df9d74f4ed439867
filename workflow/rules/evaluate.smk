# Evaluation: llm-jp-eval-style general tasks (AVG) and translation (MT, BLEU, BERTScore, COMET).


rule evaluate:
    input:
        unpack(evaluate_inputs),
    output:
        f"{R}/eval/{{base}}/{{model}}.json",
    params:
        cfg=evaluation_cfg(),
    log:
        f"{R}/logs/evaluate/{{base}}/{{model}}.log",
    benchmark:
        f"{R}/benchmarks/evaluate/{{base}}/{{model}}.tsv"
    threads: 8
    resources:
        gpu=1,
    wildcard_constraints:
        model="[^/]+",
    conda:
        "../../envs/evaluate.yaml"
    script:
        "../scripts/evaluate.py"
