from wasurenai.common import offline

offline()  # jobs read local files only: set before transformers is imported
from wasurenai.jobs import SynthesizeDataJob  # noqa: E402
from wasurenai.synthetic import main  # noqa: E402

main(SynthesizeDataJob.from_snakemake(snakemake))  # noqa: F821
