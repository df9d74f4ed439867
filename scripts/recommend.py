from wasurenai.report import recommend
recommend(snakemake)  # noqa: F821
