from wasurenai.merge import main
main(snakemake)  # noqa: F821
