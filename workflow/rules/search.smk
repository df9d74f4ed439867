# Beyond the paper: searches of merge weights for the whole trade-off (config `searches`).
# Per base and search: `workers` jobs run trials of one Optuna study (a journal file beside
# the outputs, so a killed worker resumes it); the checkpoint search_front then lists every
# trial and the dev front; each front point is merged to disk (merge_search_point) and
# evaluated on the test split by rule evaluate, as model <search>-trial<n>; search_report
# writes the table and figures. The library: scripts/wasurenai/search.py.


localrules:
    search_front,
    search_report,


rule search_worker:
    input:
        unpack(search_worker_inputs),
    output:
        f"{RESULTS}/search/{{base}}/{{search}}/worker{{worker}}.json",
    log:
        f"{RESULTS}/logs/search/{{base}}/{{search}}/worker{{worker}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/search/{{base}}/{{search}}/worker{{worker}}.tsv"
    wildcard_constraints:
        worker=r"\d+",
    conda:
        "../../envs/evaluate.yaml"
    threads: 8
    resources:
        gpu=1,
    params:
        spec=lambda w: RESOLVED.searches[w.search],
        roles=lambda w: RESOLVED.search_roles[w.search],
        directions=DIRECTIONS,
        cfg=EVAL.section,
        dev_dir=EVAL.dev_dir,
        study_dir=lambda w: study_dir(RESULTS, w.base, w.search),
    script:
        "../scripts/search_worker.py"


checkpoint search_front:
    input:
        workers=lambda w: search_worker_outputs(w.base, w.search),
    output:
        trials=f"{RESULTS}/search/{{base}}/{{search}}/trials.csv",
        front=f"{RESULTS}/search/{{base}}/{{search}}/front.json",
    log:
        f"{RESULTS}/logs/search/{{base}}/{{search}}/front.log",
    conda:
        "../../envs/evaluate.yaml"
    params:
        spec=lambda w: RESOLVED.searches[w.search],
        directions=DIRECTIONS,
    script:
        "../scripts/search_front.py"


rule merge_search_point:
    input:
        unpack(
            lambda w: {
                "front": f"{RESULTS}/search/{w.base}/{w.search}/front.json",
                **{role: model_dir(w.base, role) for role in RESOLVED.search_roles[w.search]},
            }
        ),
    output:
        directory(f"{RESULTS}/models/search/{{base}}/{{search}}/trial{{trial}}"),
    log:
        f"{RESULTS}/logs/merge_search_point/{{base}}/{{search}}/trial{{trial}}.log",
    wildcard_constraints:
        trial=r"\d+",
    conda:
        "../../envs/merge.yaml"
    params:
        roles=lambda w: RESOLVED.search_roles[w.search],
    script:
        "../scripts/merge_search_point.py"


rule search_report:
    input:
        unpack(search_report_inputs),
    output:
        table_md=f"{TABLES_DIR}/search_{{search}}.md",
        table_csv=f"{TABLES_DIR}/search_{{search}}.csv",
        figure=report(
            f"{FIGURES_DIR}/search_{{search}}.png", caption="../report/search.rst", category="3. Beyond the paper"
        ),
        figure_svg=f"{FIGURES_DIR}/search_{{search}}.svg",
        hypervolume=report(
            f"{FIGURES_DIR}/search_{{search}}_hypervolume.png",
            caption="../report/search_hypervolume.rst",
            category="3. Beyond the paper",
        ),
        hypervolume_svg=f"{FIGURES_DIR}/search_{{search}}_hypervolume.svg",
    log:
        f"{RESULTS}/logs/search_report/{{search}}.log",
    conda:
        "../../envs/report.yaml"
    params:
        spec=lambda w: RESOLVED.searches[w.search],
        bases=BASES,
        dev_comparable=lambda w: search_dev_comparable(w.search),
    script:
        "../scripts/search_report.py"
