from wasurenai.synthetic import main
main(snakemake)  # noqa: F821
