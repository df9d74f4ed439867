from wasurenai.common import offline

offline()  # jobs read local files only: set before transformers is imported
from wasurenai.jobs import RecommendJob  # noqa: E402
from wasurenai.report import recommend  # noqa: E402

recommend(RecommendJob.from_snakemake(snakemake))  # noqa: F821
