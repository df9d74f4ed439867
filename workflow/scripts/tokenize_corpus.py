# Rule tokenize (not tokenize.py: that name would shadow the standard library module).
from wasurenai.common import offline

offline()  # jobs read local files only: set before transformers is imported
from wasurenai.jobs import TokenizeJob  # noqa: E402
from wasurenai.packing import main  # noqa: E402

main(TokenizeJob.from_snakemake(snakemake))  # noqa: F821
