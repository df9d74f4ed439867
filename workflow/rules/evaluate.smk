# Evaluation: llm-jp-eval-style general tasks (AVG) and translation (MT, BLEU, BERTScore, COMET).


rule evaluate:
    input:
        unpack(evaluate_inputs),
    output:
        f"{RESULTS}/eval/{{base}}/{{model}}.json",
    params:
        cfg=EVAL.section,
    log:
        f"{RESULTS}/logs/evaluate/{{base}}/{{model}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate/{{base}}/{{model}}.tsv"
    threads: 8
    resources:
        gpu=1,
    wildcard_constraints:
        model="[^/]+",
    conda:
        "../../envs/evaluate.yaml"
    script:
        "../scripts/evaluate.py"
