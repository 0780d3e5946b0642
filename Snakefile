# fomm workflow: every (picture, driving video) pair becomes one animation job.
# Read docs/workflow.md; the options are documented in config.yaml.
from snakemake.utils import min_version

min_version("9")


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/model.smk"
include: "workflow/rules/crop.smk"
include: "workflow/rules/animate.smk"
include: "workflow/rules/mux.smk"
include: "workflow/rules/mosaic.smk"
include: "workflow/rules/gallery.smk"


wildcard_constraints:
    picture=SAFE_NAME,
    driving=SAFE_NAME,


rule all:
    default_target: True
    input:
        get_final_output(),
