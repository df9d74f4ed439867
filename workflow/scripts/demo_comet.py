from wasurenai.demo_comet import main_build
from wasurenai.jobs import DemoCometJob

main_build(DemoCometJob.from_snakemake(snakemake))  # noqa: F821
