from wasurenai.common import offline

offline()  # jobs read local files only: set before transformers is imported
from wasurenai.jobs import MergeJob  # noqa: E402
from wasurenai.merge import main  # noqa: E402

main(MergeJob.from_snakemake(snakemake))  # noqa: F821
