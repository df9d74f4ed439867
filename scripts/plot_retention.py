from wasurenai.report import plot_retention
plot_retention(snakemake)  # noqa: F821
