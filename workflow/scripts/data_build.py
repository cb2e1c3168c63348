"""Rule data_build: one subject's split of the clip dataset (cinebrain.data)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821

from cinebrain.data import DataSettings, build_split  # noqa: E402

files = snakemake.params.files  # noqa: F821
build_split(snakemake.wildcards.subject, snakemake.wildcards.split, inventory=snakemake.input.inventory,  # noqa: F821
            clips=snakemake.input.clips, settings=DataSettings(**snakemake.params.settings),  # noqa: F821
            out=snakemake.output.dataset, progress=True, **files)  # noqa: F821
