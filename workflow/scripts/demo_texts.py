from wasurenai.common import offline

offline()  # jobs read local files only: set before transformers is imported
from wasurenai.demo_models import main_texts  # noqa: E402
from wasurenai.jobs import DemoTextsJob  # noqa: E402

main_texts(DemoTextsJob.from_snakemake(snakemake))  # noqa: F821
