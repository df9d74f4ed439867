from wasurenai.common import offline

offline()  # jobs read local files only: set before transformers is imported
from wasurenai.jobs import FigureJob  # noqa: E402
from wasurenai.report import plot_retention  # noqa: E402

plot_retention(FigureJob.from_snakemake(snakemake))  # noqa: F821
