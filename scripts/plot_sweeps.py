from wasurenai.report import plot_sweeps
plot_sweeps(snakemake)  # noqa: F821
