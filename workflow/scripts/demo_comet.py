from wasurenai.common import offline

offline()  # jobs read local files only: set before transformers is imported
from wasurenai.demo_comet import main_build  # noqa: E402
from wasurenai.jobs import DemoCometJob  # noqa: E402

main_build(DemoCometJob.from_snakemake(snakemake))  # noqa: F821
