# Rule search_worker.
from wasurenai.common import offline, skip_unused_imports

offline()  # jobs read local files only: set before transformers is imported
skip_unused_imports()  # before transformers' generation code is imported (mergekit imports it)
from wasurenai.jobs import SearchWorkerJob  # noqa: E402
from wasurenai.search import main_worker  # noqa: E402

main_worker(SearchWorkerJob.from_snakemake(snakemake))  # noqa: F821
