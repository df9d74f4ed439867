from wasurenai.jobs import PlotSweepsJob
from wasurenai.report import plot_sweeps

plot_sweeps(PlotSweepsJob.from_snakemake(snakemake))  # noqa: F821
