from wasurenai.demo_models import main_tokenizer
from wasurenai.jobs import DemoTokenizerJob

main_tokenizer(DemoTokenizerJob.from_snakemake(snakemake))  # noqa: F821
