# Stage 4: EEG cleaning per run (cinebrain.eeg), in the order of simultaneous EEG-fMRI practice: MR-gradient
# removal locked to the volume markers, ballistocardiogram removal locked to ECG R-peaks, resampling and
# filters, bad channels, ICA. As in mne-bids-pipeline, ICA components are chosen in eeg_preprocess and
# written to a TSV that eeg_clean applies: edit its status column and rerun to override the choice.


rule eeg_preprocess:
    input:
        inventory="results/bids/inventory.parquet",
        bids=bids_input,
    output:
        fif=f"results/eeg/sub-{{subject}}/sub-{{subject}}_task-{TASK}_run-{{run}}_desc-preica_eeg.fif",
        ica=f"results/eeg/sub-{{subject}}/sub-{{subject}}_task-{TASK}_run-{{run}}_ica.fif",
        components=f"results/eeg/sub-{{subject}}/sub-{{subject}}_task-{TASK}_run-{{run}}_desc-components.tsv",
        qc=f"results/eeg/sub-{{subject}}/sub-{{subject}}_task-{TASK}_run-{{run}}_desc-preica_qc.json",
        arrays=f"results/eeg/sub-{{subject}}/sub-{{subject}}_task-{TASK}_run-{{run}}_desc-qc.npz",
    params:
        eeg=config["eeg"],
        marker=config["dataset"]["volume_marker"],
        # the dataset's root (input bids: the root folder of the synthetic dataset, or every raw file of a real one)
        bids_root=BIDS_ROOT,
    threads: 2
    # the longest chain to the clip datasets: started first when jobs compete for the cores
    priority: 10
    resources:
        mem_mb=4000,
    log:
        "logs/eeg/eeg_preprocess/sub-{subject}_run-{run}.log",
    benchmark:
        "logs/benchmarks/eeg_preprocess/sub-{subject}_run-{run}.tsv"
    conda:
        "../../envs/core.yaml"
    script:
        "../scripts/eeg_preprocess.py"


rule eeg_clean:
    input:
        # the run's row of the inventory gives params.bids_eeg: a rule's params may read a checkpoint's
        # output only if it is an input (a SLURM job evaluates them in a Snakemake of its own)
        inventory="results/bids/inventory.parquet",
        fif=f"results/eeg/sub-{{subject}}/sub-{{subject}}_task-{TASK}_run-{{run}}_desc-preica_eeg.fif",
        ica=f"results/eeg/sub-{{subject}}/sub-{{subject}}_task-{TASK}_run-{{run}}_ica.fif",
        components=f"results/eeg/sub-{{subject}}/sub-{{subject}}_task-{TASK}_run-{{run}}_desc-components.tsv",
        qc=f"results/eeg/sub-{{subject}}/sub-{{subject}}_task-{TASK}_run-{{run}}_desc-preica_qc.json",
        # the raw recording (BIDS root) and, for the synthetic dataset, its ground truth: the QC's SNR
        bids=bids_input,
        truth=truth_input,
    output:
        fif=f"results/eeg/sub-{{subject}}/sub-{{subject}}_task-{TASK}_run-{{run}}_desc-clean_eeg.fif",
        qc=f"results/eeg/sub-{{subject}}/sub-{{subject}}_task-{TASK}_run-{{run}}_desc-qc.json",
    params:
        # file names inside the declared folders above
        truth=eeg_truth_name,
        bids_eeg=raw_eeg_name,
        bids_root=BIDS_ROOT,
    # the longest chain to the clip datasets: started first when jobs compete for the cores
    priority: 10
    resources:
        mem_mb=4000,
    log:
        "logs/eeg/eeg_clean/sub-{subject}_run-{run}.log",
    conda:
        "../../envs/core.yaml"
    script:
        "../scripts/eeg_clean.py"


rule eeg_qc:
    input:
        arrays=f"results/eeg/sub-{{subject}}/sub-{{subject}}_task-{TASK}_run-{{run}}_desc-qc.npz",
        qc=f"results/eeg/sub-{{subject}}/sub-{{subject}}_task-{TASK}_run-{{run}}_desc-qc.json",
        ica=f"results/eeg/sub-{{subject}}/sub-{{subject}}_task-{TASK}_run-{{run}}_ica.fif",
        fif=f"results/eeg/sub-{{subject}}/sub-{{subject}}_task-{TASK}_run-{{run}}_desc-preica_eeg.fif",
    output:
        psd=report(
            "results/report/eeg/sub-{subject}_run-{run}_psd.png",
            caption="../report/eeg_psd.rst",
            category="3. EEG",
            subcategory="sub-{subject}",
            labels={"subject": "{subject}", "run": "{run}", "figure": "PSD per step"},
        ),
        locked=report(
            "results/report/eeg/sub-{subject}_run-{run}_locked.png",
            caption="../report/eeg_locked.rst",
            category="3. EEG",
            subcategory="sub-{subject}",
            labels={"subject": "{subject}", "run": "{run}", "figure": "volume- and R-peak-locked averages"},
        ),
        ica=report(
            "results/report/eeg/sub-{subject}_run-{run}_ica.png",
            caption="../report/eeg_ica.rst",
            category="3. EEG",
            subcategory="sub-{subject}",
            labels={"subject": "{subject}", "run": "{run}", "figure": "excluded ICA components"},
        ),
    log:
        "logs/eeg/eeg_qc/sub-{subject}_run-{run}.log",
    conda:
        "../../envs/core.yaml"
    script:
        "../scripts/eeg_qc.py"
