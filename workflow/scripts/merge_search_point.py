# Rule merge_search_point.
from wasurenai.common import exit_now, offline, skip_unused_imports

offline()  # jobs read local files only: set before transformers is imported
skip_unused_imports()  # before transformers' generation code is imported (mergekit imports it)
from wasurenai.jobs import SearchPointJob  # noqa: E402
from wasurenai.search import main_point  # noqa: E402

main_point(SearchPointJob.from_snakemake(snakemake))  # noqa: F821
exit_now()  # the model is written: skip the interpreter's teardown
