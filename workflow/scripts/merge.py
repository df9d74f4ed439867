from wasurenai.jobs import MergeJob
from wasurenai.merge import main

main(MergeJob.from_snakemake(snakemake))  # noqa: F821
