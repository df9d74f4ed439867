from wasurenai.common import offline

offline()  # jobs read local files only: set before transformers is imported
from wasurenai.corpus import main  # noqa: E402
from wasurenai.jobs import PrepareCorpusJob  # noqa: E402

main(PrepareCorpusJob.from_snakemake(snakemake))  # noqa: F821
