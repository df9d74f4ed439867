# wasurenai: continual pretraining on parallel text, then merging to undo forgetting.
# This file is the table of contents; the rules live in workflow/rules/, the code they run
# in scripts/ (thin entry points) and scripts/wasurenai/ (the tested library).
from snakemake.utils import min_version

min_version("9.0")


# The embedded default, unless presets are given with --configfile (they replace it;
# an overlay such as configs/smoke.yaml is given after it: --configfile config.yaml configs/smoke.yaml).
if not workflow.overwrite_configfiles:

    configfile: "config.yaml"


report: "workflow/report/workflow.rst"  # snakemake --report report.html: tables, figures, captions


include: "workflow/rules/common.smk"


wildcard_constraints:
    base="|".join(map(re.escape, BASES)) if BASES else "(?!)",
    direction="|".join(map(re.escape, DIRECTIONS)),
    merge="[^/]+",  # any merge or grid point name (an alternation of 1000s is slow to match)
    tokenizer=r"[A-Za-z0-9._-]+",
    dataset=r"[A-Za-z0-9._-]+",
    search=r"[A-Za-z0-9][A-Za-z0-9._-]*",


include: "workflow/rules/fetch.smk"


if "synthetic" in config:  # the embedded default's generated data and tiny bases

    include: "workflow/rules/demo.smk"


include: "workflow/rules/corpus.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/merge.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/search.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        all_targets,
