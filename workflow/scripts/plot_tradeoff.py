from wasurenai.common import offline

offline()  # jobs read local files only: set before transformers is imported
from wasurenai.jobs import FigureJob  # noqa: E402
from wasurenai.report import plot_tradeoff  # noqa: E402

plot_tradeoff(FigureJob.from_snakemake(snakemake))  # noqa: F821
