from wasurenai.corpus import main
from wasurenai.jobs import PrepareCorpusJob

main(PrepareCorpusJob.from_snakemake(snakemake))  # noqa: F821
