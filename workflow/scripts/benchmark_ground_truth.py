"""Rule benchmark_ground_truth: every test clip copied as its own reconstruction (cinebrain.benchmark.ceiling)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from cinebrain.benchmark.ceiling import ground_truth_copies

ground_truth_copies(test_dirs=list(snakemake.input.tests), out_dir=snakemake.output.recon)
