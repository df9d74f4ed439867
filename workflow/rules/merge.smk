# Merges with mergekit, per base model, over {base, ja-en, en-ja}.


rule merge:
    input:
        unpack(lambda w: {role: model_dir(w.base, role) for role in merge_roles(w.merge)}),
    output:
        directory(f"{RESULTS}/models/merged/{{base}}/{{merge}}"),
    log:
        f"{RESULTS}/logs/merge/{{base}}/{{merge}}.log",
    conda:
        "../../envs/merge.yaml"
    params:
        spec=lambda w: ALL_MERGES[w.merge],
    script:
        "../scripts/merge.py"


# Sweep mode: sweeps with `in_memory: true` merge each grid point in memory and evaluate it
# in one job per (base, sweep), writing the same evaluation JSONs as merge + evaluate.
# Their names come from the config, and --set-resources matches exact rule names: each
# takes the resources of a `set-resources: sweep:` entry (the SLURM profiles have one);
# an entry for `sweep_<name>` itself still overrides it.
_SWEEP_RESOURCES = {
    k: getattr(v, "value", v) for k, v in workflow.resource_settings.overwrite_resources.get("sweep", {}).items()
}
for _sweep in RESOLVED.in_memory_sweeps:
    _points = {m: s for m, s in ALL_MERGES.items() if s.get("sweep") == _sweep}

    rule:
        name:
            f"sweep_{_sweep}"
        input:
            unpack(
                lambda w: {
                    **{k: v for k, v in evaluate_inputs(w, "base").items() if k != "model"},
                    **{role: model_dir(w.base, role) for role in RESOLVED.roles},
                }
            ),
        output:
            [f"{RESULTS}/eval/{{base}}/{point}.json" for point in _points],
        log:
            f"{RESULTS}/logs/sweep/{{base}}/{_sweep}.log",
        benchmark:
            f"{RESULTS}/benchmarks/sweep/{{base}}/{_sweep}.tsv"
        conda:
            "../../envs/evaluate.yaml"
        threads: 8
        resources:
            **{"gpu": 1, **_SWEEP_RESOURCES},
        params:
            roles=RESOLVED.roles,
            points=_points,
            cfg=EVAL.section,
            dev=EVAL.dev,
        script:
            "../scripts/sweep.py"

    workflow.ruleorder(f"sweep_{_sweep}", "evaluate")  # its points' JSONs come from here
