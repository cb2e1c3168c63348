# Stage 6: text for every clip (cinebrain.captions): VLM captions, Whisper transcripts, dataset
# captions, and CineNeuron's 15 object superclasses.


rule captions_generate:
    input:
        table="results/stimuli/{episode}_clips.parquet",
        clips="results/stimuli/{episode}",
        models=caption_inputs,
        # the dataset (its stimuli/ sidecar captions)
        bids=bids_input,
    output:
        captions="results/captions/{episode}.parquet",
        categories="results/captions/{episode}_categories.parquet",
    params:
        sources=CAPTIONS["sources"],
        # the dataset's root (input bids: the root folder of the synthetic dataset, or every raw file of a real one)
        bids_root=BIDS_ROOT,
        categories=CAPTIONS["categories"],
        prompt_dir=str(PROMPT_DIR),
        wordlist=WORDLIST,
        device=CAPTIONS["device"],
    resources:
        mem_mb=8000,
    log:
        "logs/captions/captions_generate/{episode}.log",
    benchmark:
        "logs/benchmarks/captions_generate/{episode}.tsv"
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/captions_generate.py"
