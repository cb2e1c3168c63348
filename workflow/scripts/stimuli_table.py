"""Rule stimuli_table: every episode's clips in results/stimuli/clips.parquet (cinebrain.stimuli)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from cinebrain.stimuli import collect_clips

collect_clips(snakemake.input.tables, snakemake.output.table)
