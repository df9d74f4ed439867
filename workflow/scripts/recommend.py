from wasurenai.jobs import RecommendJob
from wasurenai.report import recommend

recommend(RecommendJob.from_snakemake(snakemake))  # noqa: F821
