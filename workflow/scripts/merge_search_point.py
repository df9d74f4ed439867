# Rule merge_search_point.
from wasurenai.common import offline

offline()  # jobs read local files only: set before transformers is imported
from wasurenai.jobs import SearchPointJob  # noqa: E402
from wasurenai.search import main_point  # noqa: E402

main_point(SearchPointJob.from_snakemake(snakemake))  # noqa: F821
