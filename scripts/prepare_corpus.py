from wasurenai.corpus import main
main(snakemake)  # noqa: F821
