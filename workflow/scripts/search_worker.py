# Rule search_worker.
from wasurenai.common import offline

offline()  # jobs read local files only: set before transformers is imported
from wasurenai.jobs import SearchWorkerJob  # noqa: E402
from wasurenai.search import main_worker  # noqa: E402

main_worker(SearchWorkerJob.from_snakemake(snakemake))  # noqa: F821
