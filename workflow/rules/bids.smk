# Stage 1: validate the raw dataset and write the run inventory (cinebrain.datasets: the adapter of
# dataset.adapter: BIDS by cinebrain.bids, cc2017 and per-clip betas by cinebrain.datasets.*).


checkpoint bids_inventory:
    input:
        bids=bids_input,
    output:
        inventory="results/bids/inventory.parquet",
    params:
        task=config["dataset"]["task"],
        tr=config["dataset"]["tr"],
        volume_marker=config["dataset"]["volume_marker"],
        test_episodes=config["split"]["test_episodes"],
        bids_root=BIDS_ROOT,
        adapter=ADAPTER,
        modalities=config["dataset"]["modalities"],
        cc2017=config["dataset"]["cc2017"],
        betas=config["dataset"]["betas"],
        allow_duplicates=config["dataset"]["allow_duplicates"],
        # precomputed derivatives are data like the raw runs: checked for byte-identical copies too
        derivatives=FMRIPREP_DIR if FMRIPREP["runner"] == "precomputed" else None,
        # file hashes by (path, size, mtime): a rerun hashes only what changed (cinebrain.integrity)
        hash_cache=".cache/cinebrain/file_hashes.json",
    log:
        "logs/bids/bids_inventory.log",
    conda:
        "../../envs/core.yaml"
    script:
        "../scripts/bids_inventory.py"
