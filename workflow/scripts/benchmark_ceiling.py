"""Rule benchmark_ceiling: every test clip generated from its caption (cinebrain.benchmark.ceiling)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from cinebrain.benchmark.ceiling import caption_ceiling

caption_ceiling(test_dirs=list(snakemake.input.tests), out_dir=snakemake.output.recon, settings=dict(snakemake.params.settings),
                device=dict(snakemake.params.settings).get("device", "auto"), progress=True)
