# Rules sweep_<name>.
from wasurenai.common import offline, skip_unused_imports

offline()  # jobs read local files only: set before transformers is imported
skip_unused_imports()  # before transformers' generation code is imported (mergekit imports it)
from wasurenai.jobs import SweepJob  # noqa: E402
from wasurenai.sweep_mode import main  # noqa: E402

main(SweepJob.from_snakemake(snakemake))  # noqa: F821
