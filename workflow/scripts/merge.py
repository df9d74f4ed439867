from wasurenai.common import exit_now, offline, skip_unused_imports

offline()  # jobs read local files only: set before transformers is imported
skip_unused_imports()  # before transformers' generation code is imported (mergekit imports it)
from wasurenai.jobs import MergeJob  # noqa: E402
from wasurenai.merge import main  # noqa: E402

main(MergeJob.from_snakemake(snakemake))  # noqa: F821
exit_now()  # the model is written: skip the interpreter's teardown
