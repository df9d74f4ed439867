from wasurenai.packing import main
main(snakemake)  # noqa: F821
