from wasurenai.train import main
main(snakemake)  # noqa: F821
