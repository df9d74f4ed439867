from wasurenai.common import offline

offline()  # jobs read local files only: set before transformers is imported
from wasurenai.aggregate import main  # noqa: E402

main(snakemake)  # noqa: F821
