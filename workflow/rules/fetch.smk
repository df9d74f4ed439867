# Bases given as a hub id and a missing local path are downloaded into that path, on the
# node Snakemake runs on (a login node with internet): the only rule that needs a network.

for _base, _spec in config["bases"].items():
    if "hub" in _spec and "path" in _spec:

        rule:
            name:
                f"fetch_base_{_base}"
            output:
                directory(_spec["path"]),
            log:
                f"{RESULTS}/logs/fetch_base/{_base}.log",
            localrule: True
            conda:
                "../../envs/core.yaml"
            params:
                repo_id=_spec["hub"],
            script:
                "../scripts/fetch_base.py"
