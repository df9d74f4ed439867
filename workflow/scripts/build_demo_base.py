from wasurenai.common import offline

offline()  # jobs read local files only: set before transformers is imported
from wasurenai.jobs import TrainJob  # noqa: E402
from wasurenai.train import main  # noqa: E402

main(TrainJob.from_snakemake(snakemake))  # noqa: F821
