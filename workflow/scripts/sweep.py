# Rules sweep_<name>.
from wasurenai.jobs import SweepJob
from wasurenai.sweep_mode import main

main(SweepJob.from_snakemake(snakemake))  # noqa: F821
