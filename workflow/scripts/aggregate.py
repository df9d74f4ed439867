from wasurenai.common import offline

offline()  # jobs read local files only: set before transformers is imported
from wasurenai.aggregate import main  # noqa: E402
from wasurenai.jobs import AggregateJob  # noqa: E402

main(AggregateJob.from_snakemake(snakemake))  # noqa: F821
