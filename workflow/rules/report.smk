# Report figures: the dataset at a glance (cinebrain.report).


rule report_overview:
    input:
        inventory="results/bids/inventory.parquet",
        bids=bids_input,
        # the first run's fMRIPrep derivatives (checked by fmriprep_run) and the visual ROI set: its traces
        fmriprep=first_fmriprep_manifest,
        visual_roi=os.path.join(ROI_DIR, "visual.yaml"),
    output:
        inventory=report(
            "results/report/inventory.csv",
            caption="../report/inventory.rst",
            category="1. Dataset",
            labels={"figure": "run inventory"},
        ),
        frames=report(
            "results/report/stimulus_frames.png",
            caption="../report/stimulus_frames.rst",
            category="1. Dataset",
            labels={"figure": "stimulus frames"},
        ),
        traces=report(
            "results/report/run_traces.png",
            caption="../report/run_traces.rst",
            category="1. Dataset",
            labels={"figure": "BOLD and EEG of one run"},
        ),
    params:
        # the dataset's root (input bids: the root folder of the synthetic dataset, or every raw file of a real one)
        bids_root=BIDS_ROOT,
        fmriprep_dir=FMRIPREP_DIR,
        volume_marker=config["dataset"]["volume_marker"],
    log:
        "logs/report/report_overview.log",
    conda:
        "../../envs/core.yaml"
    script:
        "../scripts/report_overview.py"
