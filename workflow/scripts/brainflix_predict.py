"""Rule brainflix_predict: one subject's test clips through a pool's stage 1 and 2 into the methods' contract
folder (cinebrain.methods.brainflix.train)."""

import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

from pathlib import Path

from cinebrain.methods.brainflix.train import predict

p, i, w = snakemake.params, snakemake.input, snakemake.wildcards
print(predict(stage1_dir=p.pool, stage2_dir=p.pool, test_dir=str(i.test), train_dirs=dict(p.train_dirs),
              latents_test=str(i.latents), blip_test=str(i.blip), subject=w.subject, variant=w.variant,
              settings=dict(p.settings), out_dir=str(Path(snakemake.output.metrics).parent), device=p.device))
