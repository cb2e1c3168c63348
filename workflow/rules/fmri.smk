# Stage 3: ROI time series per run (cinebrain.fmri): the columns of the configured ROI sets, optional
# confound regression, normalisation, the stimulus-to-volume alignment with the haemodynamic lag, and QC;
# with fmri.activation, each subject's stimulus-activated columns (the ROI set "activated"); with per-clip
# betas (dataset.adapter betas), each subject's beta vectors instead of the per-run series (fmri_betas).


rule fmri_rois:
    input:
        rois=roi_files,
    output:
        columns="results/fmri/roi_columns.json",
    params:
        roi_sets=FMRI["roi_sets"],
        roi_dir=ROI_DIR,
    log:
        "logs/fmri/fmri_rois.log",
    conda:
        "../../envs/core.yaml"
    script:
        "../scripts/fmri_rois.py"


rule fmri_extract:
    input:
        manifest="results/fmri/sub-{subject}/sub-{subject}_fmriprep.json",
        columns="results/fmri/roi_columns.json",
    output:
        data=f"results/fmri/sub-{{subject}}/sub-{{subject}}_task-{TASK}_run-{{run}}_desc-extracted_bold.npy",
        info=f"results/fmri/sub-{{subject}}/sub-{{subject}}_task-{TASK}_run-{{run}}_desc-extracted_bold.json",
        qc=f"results/fmri/sub-{{subject}}/sub-{{subject}}_task-{TASK}_run-{{run}}_desc-qc.npz",
    params:
        confounds=FMRI["confounds"],
    resources:
        mem_mb=4000,
    log:
        "logs/fmri/fmri_extract/sub-{subject}_run-{run}.log",
    benchmark:
        "logs/benchmarks/fmri_extract/sub-{subject}_run-{run}.tsv"
    conda:
        "../../envs/core.yaml"
    script:
        "../scripts/fmri_extract.py"


rule fmri_normalise:
    input:
        inventory="results/bids/inventory.parquet",
        columns="results/fmri/roi_columns.json",
        info=f"results/fmri/sub-{{subject}}/sub-{{subject}}_task-{TASK}_run-{{run}}_desc-extracted_bold.json",
        runs=normalise_inputs,
    output:
        data=f"results/fmri/sub-{{subject}}/sub-{{subject}}_task-{TASK}_run-{{run}}_desc-roi_bold.npy",
        sidecar=f"results/fmri/sub-{{subject}}/sub-{{subject}}_task-{TASK}_run-{{run}}_desc-roi_bold.json",
    params:
        normalise=FMRI["normalise"],
        hrf_lag=FMRI["hrf_lag"],
    resources:
        mem_mb=4000,
    log:
        "logs/fmri/fmri_normalise/sub-{subject}_run-{run}.log",
    conda:
        "../../envs/core.yaml"
    script:
        "../scripts/fmri_normalise.py"


rule fmri_roimap:
    input:
        columns="results/fmri/roi_columns.json",
    output:
        figure=report(
            "results/report/fmri/roi_sets.png",
            caption="../report/fmri_roi_sets.rst",
            category="2. fMRI",
            labels={"figure": "ROI sets"},
        ),
    log:
        "logs/fmri/fmri_roimap.log",
    conda:
        "../../envs/core.yaml"
    script:
        "../scripts/fmri_roimap.py"


rule fmri_qc:
    input:
        qc=f"results/fmri/sub-{{subject}}/sub-{{subject}}_task-{TASK}_run-{{run}}_desc-qc.npz",
        data=f"results/fmri/sub-{{subject}}/sub-{{subject}}_task-{TASK}_run-{{run}}_desc-roi_bold.npy",
        sidecar=f"results/fmri/sub-{{subject}}/sub-{{subject}}_task-{TASK}_run-{{run}}_desc-roi_bold.json",
    output:
        figure=report(
            "results/report/fmri/sub-{subject}_run-{run}_qc.png",
            caption="../report/fmri_qc.rst",
            category="2. fMRI",
            subcategory="sub-{subject}",
            labels={"subject": "{subject}", "run": "{run}", "figure": "QC"},
        ),
    log:
        "logs/fmri/fmri_qc/sub-{subject}_run-{run}.log",
    conda:
        "../../envs/core.yaml"
    script:
        "../scripts/fmri_qc.py"


rule fmri_activation:
    input:
        inventory="results/bids/inventory.parquet",
        columns="results/fmri/roi_columns.json",
        runs=activation_inputs,
    output:
        selection="results/fmri/sub-{subject}/sub-{subject}_desc-activated_columns.json",
        figure=report(
            "results/report/fmri/sub-{subject}_activation.png",
            caption="../report/fmri_activation.rst",
            category="2. fMRI",
            subcategory="sub-{subject}",
            labels={"subject": "{subject}", "figure": "stimulus-activated columns"},
        ),
    params:
        runs=activation_runs,
        settings=FMRI["activation"],
    log:
        "logs/fmri/fmri_activation/sub-{subject}.log",
    conda:
        "../../envs/core.yaml"
    script:
        "../scripts/fmri_activation.py"


rule fmri_betas:
    input:
        inventory="results/bids/inventory.parquet",
        columns="results/fmri/roi_columns.json",
        values=betas_values,
    output:
        data="results/fmri/sub-{subject}/sub-{subject}_desc-betas_bold.npy",
        sidecar="results/fmri/sub-{subject}/sub-{subject}_desc-betas_bold.json",
    resources:
        mem_mb=8000,
    log:
        "logs/fmri/fmri_betas/sub-{subject}.log",
    conda:
        "../../envs/core.yaml"
    script:
        "../scripts/fmri_betas.py"
