from wasurenai.common import offline

offline()  # jobs read local files only: set before transformers is imported
from wasurenai.jobs import PlotSweepsJob  # noqa: E402
from wasurenai.report import plot_sweeps  # noqa: E402

plot_sweeps(PlotSweepsJob.from_snakemake(snakemake))  # noqa: F821
