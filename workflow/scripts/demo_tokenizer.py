from wasurenai.common import offline

offline()  # jobs read local files only: set before transformers is imported
from wasurenai.demo_models import main_tokenizer  # noqa: E402
from wasurenai.jobs import DemoTokenizerJob  # noqa: E402

main_tokenizer(DemoTokenizerJob.from_snakemake(snakemake))  # noqa: F821
