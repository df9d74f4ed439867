# Rule tokenize (not tokenize.py: that name would shadow the standard library module).
from wasurenai.jobs import TokenizeJob
from wasurenai.packing import main

main(TokenizeJob.from_snakemake(snakemake))  # noqa: F821
