from wasurenai.jobs import FigureJob
from wasurenai.report import plot_retention

plot_retention(FigureJob.from_snakemake(snakemake))  # noqa: F821
