"""Rule bids_inventory: validate the raw dataset and write the inventory (cinebrain.datasets, cinebrain.bids)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from cinebrain.bids import InventoryOptions, write_inventory
from cinebrain.datasets import build_inventory

p = snakemake.params
df = build_inventory(
    p.adapter,
    p.bids_root,
    InventoryOptions(tr=p.tr, task=p.task, volume_marker=p.volume_marker, test_episodes=p.test_episodes,
                     allow_duplicates=list(p.allow_duplicates), derivatives=p.derivatives, hash_cache=p.hash_cache,
                     modalities=list(p.modalities)),
    cc2017=p.cc2017,
    betas=p.betas,
)
write_inventory(df, snakemake.output.inventory)
print(df.to_string(), file=sys.stderr)
