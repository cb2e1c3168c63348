"""Rule benchmark_score: every reconstruction of one decoder variant and subject scored (cinebrain.benchmark)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from cinebrain.benchmark.score import score_reconstructions

score_reconstructions(snakemake.input.recon, snakemake.input.test, networks=dict(snakemake.params.networks),
                      settings=dict(snakemake.params.settings), out_dir=snakemake.output.scores,
                      device=snakemake.params.device, progress=True)
