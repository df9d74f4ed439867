from wasurenai.aggregate import main

main(snakemake)  # noqa: F821
