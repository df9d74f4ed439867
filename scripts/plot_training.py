from wasurenai.report import plot_training
plot_training(snakemake)  # noqa: F821
