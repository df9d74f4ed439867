from wasurenai.jobs import FigureJob
from wasurenai.report import plot_tradeoff

plot_tradeoff(FigureJob.from_snakemake(snakemake))  # noqa: F821
