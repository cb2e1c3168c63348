# Stage 1: validate the BIDS dataset and write the run inventory (cinebrain.bids).


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
    log:
        "logs/bids/bids_inventory.log",
    conda:
        "../../envs/core.yaml"
    script:
        "../scripts/bids_inventory.py"
