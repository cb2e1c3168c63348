# cinebrain: simultaneous EEG+fMRI during films -> decoders and Cine-Benchmark.
# This file only wires the stages together; see workflow/rules/*.smk and README.md.

import sys
from pathlib import Path

from snakemake.utils import min_version

# the checkout's library, importable before any job (jobs get it from .venv or envs/*.yaml)
sys.path.insert(0, str(Path(workflow.basedir) / "src"))

min_version("9.0")


# A syntax error in the default configuration is named with its file and line here (Snakemake's loader says
# only "not valid JSON or YAML"); files given with --configfile are read by Snakemake before this line:
# `cinebrain config FILE...` names their errors the same way.
from cinebrain.config import load_config_file as _load_config_file  # noqa: E402

_load_config_file(Path(workflow.basedir) / "config" / "config.yaml")


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
