from wasurenai.report import plot_tradeoff
plot_tradeoff(snakemake)  # noqa: F821
