# Rules fetch_base_<base>.
from wasurenai.fetch import main
from wasurenai.jobs import FetchBaseJob

main(FetchBaseJob.from_snakemake(snakemake))  # noqa: F821
