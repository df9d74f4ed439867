# Merges with mergekit, per base model, over {base, ja-en, en-ja}.

rule merge:
    input:
        unpack(lambda w: {role: model_dir(w.base, role) for role in merge_roles(w.merge)}),
    output:
        directory(f"{R}/models/merged/{{base}}/{{merge}}"),
    params:
        spec=lambda w: ALL_MERGES[w.merge],
    log:
        f"{R}/logs/merge/{{base}}/{{merge}}.log",
    conda:
        "../../envs/merge.yaml"
    script:
        "../scripts/merge.py"


# Sweep mode: sweeps with `in_memory: true` merge each grid point in memory and evaluate it
# in one job per (base, sweep), writing the same evaluation JSONs as merge + evaluate.
for _sweep in IN_MEMORY_SWEEPS:
    _points = {m: s for m, s in ALL_MERGES.items() if s.get("sweep") == _sweep}

    rule:
        name:
            f"sweep_{_sweep}"
        input:
            unpack(lambda w: {**{k: v for k, v in evaluate_inputs(w, "base").items() if k != "model"},
                              **{role: model_dir(w.base, role) for role in MERGE_ROLES}}),
        output:
            [f"{R}/eval/{{base}}/{point}.json" for point in _points],
        params:
            roles=MERGE_ROLES,
            points=_points,
            cfg=evaluation_cfg(),
        log:
            f"{R}/logs/sweep/{{base}}/{_sweep}.log",
        benchmark:
            f"{R}/benchmarks/sweep/{{base}}/{_sweep}.tsv"
        threads: 8
        resources:
            gpu=1,
        conda:
            "../../envs/evaluate.yaml"
        script:
            "../scripts/sweep.py"

    workflow.ruleorder(f"sweep_{_sweep}", "evaluate")  # its points' JSONs come from here
