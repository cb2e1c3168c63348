# cinebrain: simultaneous EEG+fMRI during films -> decoders and Cine-Benchmark.
# This file only wires the stages together; see workflow/rules/*.smk and README.md.

from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/synth.smk"
include: "workflow/rules/bids.smk"
include: "workflow/rules/fmriprep.smk"
include: "workflow/rules/fmri.smk"
include: "workflow/rules/eeg.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/stimuli.smk"
include: "workflow/rules/captions.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/methods.smk"


# Every enabled method's rules (cinebrain.methods: one rule file per method, named after it).
for _method in METHODS:

    include: f"workflow/rules/{_method}.smk"


include: "workflow/rules/benchmark.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        final_outputs,
    default_target: True
