# The report: the paper's Tables 1 and 2 (Markdown, CSV, LaTeX, HTML; with the reference's
# numbers beside ours when report.reference is set), Figure 2, the AVG-MT trade-off with its
# Pareto frontier, per-category retention, the merge recommended under report.budget and the
# training loss curves. `snakemake --report report.html` collects them with their captions.
# Seconds of work each: they run in the main Snakemake process, never as cluster jobs.
# Their helpers (tables_report, reference_outputs, training_runs, ...) live in common.smk.


localrules:
    aggregate,
    plot_sweeps,
    plot_tradeoff,
    plot_retention,
    recommend,
    plot_training,


rule aggregate:
    input:
        **({"reference": REFERENCE} if REFERENCE else {}),
        evals=run_evals(),
        point_evals=point_evals,
        fronts=front_files(),
    output:
        **reference_outputs(),
        table1_md=f"{TABLES_DIR}/table1.md",
        table1_csv=f"{TABLES_DIR}/table1.csv",
        table1_tex=f"{TABLES_DIR}/table1.tex",
        table1_html=tables_report("table1", "table1"),
        table2_md=f"{TABLES_DIR}/table2.md",
        table2_csv=f"{TABLES_DIR}/table2.csv",
        table2_tex=f"{TABLES_DIR}/table2.tex",
        table2_html=tables_report("table2", "table2"),
        categories_md=f"{TABLES_DIR}/categories.md",
        categories_csv=f"{TABLES_DIR}/categories.csv",
        categories_html=tables_report("categories", "categories"),
        sweeps_csv=f"{TABLES_DIR}/sweeps.csv",
        scores_csv=f"{TABLES_DIR}/scores.csv",
        intervals_csv=f"{TABLES_DIR}/intervals.csv",
        table1_pm_md=f"{TABLES_DIR}/table1_pm.md",
        table1_pm_csv=f"{TABLES_DIR}/table1_pm.csv",
        table2_pm_md=f"{TABLES_DIR}/table2_pm.md",
        table2_pm_csv=f"{TABLES_DIR}/table2_pm.csv",
        findings_md=f"{TABLES_DIR}/findings.md",
        findings_csv=f"{TABLES_DIR}/findings.csv",
    log:
        f"{RESULTS}/logs/aggregate.log",
    conda:
        "../../envs/report.yaml"
    params:
        runs=eval_runs(),
        bases={b: base.label for b, base in RESOLVED.bases.items()},
        merges={m: spec["label"] for m, spec in config["merges"].items()},
        sweeps={
            m: {"sweep": s["sweep"], "point": s["point"], "label": s["label"]}
            for m, s in ALL_MERGES.items()
            if "sweep" in s
        },
        directions=DIRECTIONS,
        table1_merge=RESOLVED.report["table1_merge"],
        categories=EVAL.categories,
        intervals=RESOLVED.report["intervals"],
        fronts=search_fronts(),
        dev=EVAL.dev,
    script:
        "../scripts/aggregate.py"


rule plot_sweeps:
    input:
        sweeps=rules.aggregate.output.sweeps_csv,
        scores=rules.aggregate.output.scores_csv,
    output:
        png=report(f"{FIGURES_DIR}/figure2.png", caption="../report/figure2.rst", category="2. Figure 2"),
        svg=f"{FIGURES_DIR}/figure2.svg",
    log:
        f"{RESULTS}/logs/plot_sweeps.log",
    conda:
        "../../envs/report.yaml"
    params:
        sweeps={n: {"label": s["label"], "method": s["method"]} for n, s in RESOLVED.sweeps.items()},
        directions=DIRECTIONS,
    script:
        "../scripts/plot_sweeps.py"


rule plot_tradeoff:
    input:
        scores=rules.aggregate.output.scores_csv,
    output:
        png=report(f"{FIGURES_DIR}/tradeoff.png", caption="../report/tradeoff.rst", category="3. Beyond the paper"),
        svg=f"{FIGURES_DIR}/tradeoff.svg",
        csv=f"{TABLES_DIR}/pareto.csv",
    log:
        f"{RESULTS}/logs/plot_tradeoff.log",
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/plot_tradeoff.py"


rule plot_retention:
    input:
        scores=rules.aggregate.output.scores_csv,
    output:
        png=report(f"{FIGURES_DIR}/retention.png", caption="../report/retention.rst", category="3. Beyond the paper"),
        svg=f"{FIGURES_DIR}/retention.svg",
        csv=f"{TABLES_DIR}/retention.csv",
    log:
        f"{RESULTS}/logs/plot_retention.log",
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/plot_retention.py"


rule recommend:
    input:
        scores=rules.aggregate.output.scores_csv,
        # a function, not the list: beside rules.aggregate.output, Snakemake hashes a listed input
        # once per file it holds (quadratic: 0.4 s for a 1000-point grid over 2 bases)
        evals=lambda w: run_evals(),
        point_evals=point_evals,
        fronts=front_files(),
    output:
        md=f"{TABLES_DIR}/recommendation.md",
        json=f"{TABLES_DIR}/recommendation.json",
        html=report(
            f"{TABLES_DIR}/recommendation.html", caption="../report/recommendation.rst", category="3. Beyond the paper"
        ),
    log:
        f"{RESULTS}/logs/recommend.log",
    conda:
        "../../envs/report.yaml"
    params:
        budget=RESOLVED.report["budget"],
        directions=DIRECTIONS,
        runs=eval_runs(),
        categories=EVAL.categories,
        intervals=RESOLVED.report["intervals"],
        fronts=search_fronts(),
    script:
        "../scripts/recommend.py"


rule plot_training:
    input:
        models=[model_dir(r["base"], r["run"] if r["kind"] == "cpt" else "base") for r in training_runs()],
    output:
        png=report(f"{FIGURES_DIR}/training_loss.png", caption="../report/training_loss.rst", category="4. Training"),
        svg=f"{FIGURES_DIR}/training_loss.svg",
    log:
        f"{RESULTS}/logs/plot_training.log",
    conda:
        "../../envs/report.yaml"
    params:
        runs=training_runs(),
    script:
        "../scripts/plot_training.py"
