"""Rule bids_inventory: validate the BIDS dataset and write the inventory (cinebrain.bids)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821

from cinebrain.bids import InventoryOptions, build_inventory, write_inventory  # noqa: E402

p = snakemake.params  # noqa: F821
df = build_inventory(
    snakemake.input.bids,  # noqa: F821
    InventoryOptions(tr=p.tr, task=p.task, volume_marker=p.volume_marker, test_episodes=p.test_episodes),
)
write_inventory(df, snakemake.output.inventory)  # noqa: F821
print(df.to_string(), file=sys.stderr)
