from wasurenai.demo_models import main_texts
from wasurenai.jobs import DemoTextsJob

main_texts(DemoTextsJob.from_snakemake(snakemake))  # noqa: F821
