"""Rule captions_generate: captions, transcripts and superclasses of one episode's clips (cinebrain.captions)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from cinebrain.captions import caption_episode

caption_episode(snakemake.input.table, snakemake.wildcards.episode, snakemake.params.sources,
                snakemake.params.categories, sidecar_dir=snakemake.params.sidecar_dir,
                out=snakemake.output.captions, out_categories=snakemake.output.categories,
                device=snakemake.params.device, progress=True)
