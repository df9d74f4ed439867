from wasurenai.demo_models import main_tokenizer
main_tokenizer(snakemake)  # noqa: F821
