# Rule search_front.
from wasurenai.common import offline

offline()  # jobs read local files only: set before transformers is imported
from wasurenai.jobs import SearchFrontJob  # noqa: E402
from wasurenai.search import main_front  # noqa: E402

main_front(SearchFrontJob.from_snakemake(snakemake))  # noqa: F821
