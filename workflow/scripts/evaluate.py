from wasurenai.common import exit_now, offline, skip_unused_imports

offline()  # jobs read local files only: set before transformers is imported
from wasurenai.evaluation import main  # noqa: E402
from wasurenai.jobs import EvaluateJob  # noqa: E402

skip_unused_imports()  # before transformers' generation code is imported
main(EvaluateJob.from_snakemake(snakemake))  # noqa: F821
exit_now()  # the JSON and the log are written: skip the interpreter's teardown
