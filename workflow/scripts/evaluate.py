from wasurenai.common import offline

offline()  # jobs read local files only: set before transformers is imported
from wasurenai.evaluation import main  # noqa: E402
from wasurenai.jobs import EvaluateJob  # noqa: E402

main(EvaluateJob.from_snakemake(snakemake))  # noqa: F821
