from wasurenai.evaluation import main

main(snakemake)  # noqa: F821
