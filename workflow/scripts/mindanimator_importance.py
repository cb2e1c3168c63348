"""Rule mindanimator_importance: the report figure of every subject's voxel importance maps
(cinebrain.methods.mindanimator.importance)."""

import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

import re

from cinebrain.methods.mindanimator.importance import plot_importance


def subject(path):
    return re.search(r"sub-([^/]+)", str(path)).group(1)


plot_importance({subject(f): f for f in snakemake.input.importance}, {subject(f): f for f in snakemake.input.areas},
                snakemake.output.figure)
