"""Rule captions_generate: captions, transcripts and superclasses of one episode's clips (cinebrain.captions)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

import os

from cinebrain.captions import caption_episode

p = snakemake.params
caption_episode(snakemake.input.table, snakemake.wildcards.episode, p.sources, p.categories,
                prompt_dir=p.prompt_dir, wordlist=p.wordlist, sidecar_dir=os.path.join(p.bids_root, "stimuli"),
                out=snakemake.output.captions, out_categories=snakemake.output.categories,
                device=snakemake.params.device, progress=True)
