"""Rule stimuli_cut: one episode's clips, audio and shot boundaries (cinebrain.stimuli)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from cinebrain.stimuli import cut_rule

cut_rule(snakemake.input.stimulus, snakemake.wildcards.episode, snakemake.output.clips,
         snakemake.output.table, snakemake.params.settings)
