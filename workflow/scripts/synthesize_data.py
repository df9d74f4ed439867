from wasurenai.jobs import SynthesizeDataJob
from wasurenai.synthetic import main

main(SynthesizeDataJob.from_snakemake(snakemake))  # noqa: F821
