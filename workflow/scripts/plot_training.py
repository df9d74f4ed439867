from wasurenai.jobs import PlotTrainingJob
from wasurenai.report import plot_training

plot_training(PlotTrainingJob.from_snakemake(snakemake))  # noqa: F821
