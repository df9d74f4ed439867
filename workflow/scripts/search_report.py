# Rule search_report.
from wasurenai.common import offline

offline()  # jobs read local files only: set before transformers is imported
from wasurenai.jobs import SearchReportJob  # noqa: E402
from wasurenai.search_report import main  # noqa: E402

main(SearchReportJob.from_snakemake(snakemake))  # noqa: F821
