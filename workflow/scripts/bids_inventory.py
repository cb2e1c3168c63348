"""Rule bids_inventory: validate the BIDS dataset and write the inventory (cinebrain.bids)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from cinebrain.bids import InventoryOptions, build_inventory, write_inventory

p = snakemake.params
df = build_inventory(
    p.bids_root,
    InventoryOptions(tr=p.tr, task=p.task, volume_marker=p.volume_marker, test_episodes=p.test_episodes,
                     allow_duplicates=list(p.allow_duplicates), derivatives=p.derivatives, hash_cache=p.hash_cache),
)
write_inventory(df, snakemake.output.inventory)
print(df.to_string(), file=sys.stderr)
