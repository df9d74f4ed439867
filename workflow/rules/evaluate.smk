# Evaluation: llm-jp-eval-style general tasks (AVG) and translation (MT, BLEU, BERTScore, COMET).


rule evaluate:
    input:
        unpack(evaluate_inputs),
    output:
        f"{RESULTS}/eval/{{base}}/{{model}}.json",
    log:
        f"{RESULTS}/logs/evaluate/{{base}}/{{model}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate/{{base}}/{{model}}.tsv"
    wildcard_constraints:
        model="[^/]+",
    conda:
        "../../envs/evaluate.yaml"
    threads: 8
    resources:
        gpu=1,
    params:
        cfg=EVAL.section,
        dev=EVAL.dev,  # the dev split the recommendation chooses on (report.budget.select_on)
    script:
        "../scripts/evaluate.py"
