"""Rule stimuli_cut: one episode's clips, audio and shot boundaries (cinebrain.stimuli)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821

from cinebrain.stimuli import cut_rule  # noqa: E402

cut_rule(snakemake.input.stimulus, snakemake.wildcards.episode, snakemake.output.clips,  # noqa: F821
         snakemake.output.table, snakemake.params.settings)  # noqa: F821
