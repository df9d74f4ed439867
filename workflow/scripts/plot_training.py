from wasurenai.common import offline

offline()  # jobs read local files only: set before transformers is imported
from wasurenai.jobs import PlotTrainingJob  # noqa: E402
from wasurenai.report import plot_training  # noqa: E402

plot_training(PlotTrainingJob.from_snakemake(snakemake))  # noqa: F821
