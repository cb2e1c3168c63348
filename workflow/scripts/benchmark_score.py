"""Rule benchmark_score: every reconstruction of one decoder variant and subject scored (cinebrain.benchmark);
a ceiling's scores copied from the subject scored before when both have the same test clips."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from cinebrain.benchmark.score import reuse_scores, score_reconstructions

i = snakemake.input
if not (i.reference and reuse_scores(i.reference[0], i.reference_test[0], i.test, snakemake.output.scores)):
    score_reconstructions(i.recon, i.test, networks=dict(snakemake.params.networks), settings=dict(snakemake.params.settings),
                          out_dir=snakemake.output.scores, device=snakemake.params.device, progress=True)
