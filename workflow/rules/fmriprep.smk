# Stage 2: fMRIPrep derivatives per subject (cinebrain.fmri.fmriprep): run fMRIPrep through the configured
# runner (docker, apptainer), or check precomputed derivatives; either way every run's 91k CIFTI and
# confounds table are checked and listed in a manifest that the fMRI rules read.


rule fmriprep_run:
    input:
        inventory="results/bids/inventory.parquet",
        bids=bids_input,
        license=[FMRIPREP["fs_license"]] if FMRIPREP["runner"] != "precomputed" else [],
    output:
        manifest="results/fmri/sub-{subject}/sub-{subject}_fmriprep.json",
    params:
        settings=FMRIPREP,
        fmriprep_dir=FMRIPREP_DIR,
        # the dataset's root (input bids: the root folder of the synthetic dataset, or every raw file of a real one)
        bids_root=BIDS_ROOT,
    threads: 1 if FMRIPREP["runner"] == "precomputed" else FMRIPREP["threads"]
    resources:
        mem_mb=1000 if FMRIPREP["runner"] == "precomputed" else FMRIPREP["mem_mb"],
    localrule: FMRIPREP["runner"] == "precomputed"
    log:
        "logs/fmriprep/sub-{subject}.log",
    benchmark:
        "logs/benchmarks/fmriprep_run/sub-{subject}.tsv"
    conda:
        "../../envs/fmriprep.yaml"
    script:
        "../scripts/fmriprep_run.py"
