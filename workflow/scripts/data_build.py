"""Rule data_build: one subject's split of the clip dataset (cinebrain.data)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from cinebrain.data import DataSettings, build_split

files = snakemake.params.files
build_split(snakemake.wildcards.subject, snakemake.wildcards.split, inventory=snakemake.input.inventory,
            clips=snakemake.input.clips, settings=DataSettings(**snakemake.params.settings),
            roi_columns=snakemake.input.columns, activation=snakemake.input.activation or None,
            out=snakemake.output.dataset, progress=True, **files)
