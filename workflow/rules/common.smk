# Configuration validation and helpers shared by every stage.

import os
import sys
from pathlib import Path

# The config check below imports the cinebrain library: make the checkout's copy importable even when
# snakemake runs from an environment without the package (jobs get it from .venv or envs/*.yaml).
sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from cinebrain.config import validate_config

validate_config(config, Path(workflow.basedir) / "workflow/schemas/config.schema.yaml")

SYNTH = config["synth"]
BIDS_ROOT = config["dataset"]["bids_root"]
FMRIPREP_DIR = config["dataset"]["fmriprep_dir"]

if SYNTH["enabled"]:
    _expected = os.path.join(SYNTH.get("out", "results/synth"), "bids")
    if os.path.normpath(BIDS_ROOT) != os.path.normpath(_expected):
        raise ValueError(
            f"invalid configuration: synth.enabled is true, so dataset.bids_root must be '{_expected}' "
            f"(inside synth.out), not '{BIDS_ROOT}'; fix one of the two keys"
        )


def bids_input(wildcards=None):
    """The BIDS root, an input of the stages that read it (written by synth_generate, or existing)."""
    return BIDS_ROOT


def inventory():
    """The run inventory, read after the bids_inventory checkpoint has run."""
    import pandas as pd

    return pd.read_parquet(checkpoints.bids_inventory.get().output.inventory)


def final_outputs():
    return [
        "results/bids/inventory.parquet",
        "results/report/inventory.csv",
        "results/report/stimulus_frames.png",
        "results/report/run_traces.png",
    ]
