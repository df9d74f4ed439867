# Rules sweep_<name>.
from wasurenai.common import offline

offline()  # jobs read local files only: set before transformers is imported
from wasurenai.jobs import SweepJob  # noqa: E402
from wasurenai.sweep_mode import main  # noqa: E402

main(SweepJob.from_snakemake(snakemake))  # noqa: F821
