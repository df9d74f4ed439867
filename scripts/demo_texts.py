from wasurenai.demo_models import main_texts
main_texts(snakemake)  # noqa: F821
