from wasurenai.jobs import TrainJob
from wasurenai.train import main

main(TrainJob.from_snakemake(snakemake))  # noqa: F821
