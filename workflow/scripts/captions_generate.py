"""Rule captions_generate: captions, transcripts and superclasses of one episode's clips (cinebrain.captions)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821

from cinebrain.captions import caption_episode  # noqa: E402

caption_episode(snakemake.input.table, snakemake.wildcards.episode, snakemake.params.sources,  # noqa: F821
                snakemake.params.categories, sidecar_dir=snakemake.params.sidecar_dir,  # noqa: F821
                out=snakemake.output.captions, out_categories=snakemake.output.categories,  # noqa: F821
                device=snakemake.params.device, progress=True)  # noqa: F821
