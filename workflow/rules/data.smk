# Stage 8: per subject and split, the clip dataset (cinebrain.data): manifest + memory-mapped fMRI
# (N, 5, V) and EEG (N, 64, 4000; none in an fMRI-only dataset) windows aligned with the clips and their
# targets; repeats of an episode kept or averaged (data.repeats).


rule data_build:
    input:
        unpack(data_inputs),
    output:
        dataset=directory("results/dataset/sub-{subject}/{split}"),
    params:
        files=data_files,
        settings={
            "clip_seconds": STIMULI["clip_seconds"],
            "tr": config["dataset"]["tr"],
            "eeg_lag": DATA["eeg_lag"],
            "incomplete": DATA["incomplete"],
            "repeats": DATA["repeats"],
            "volume_marker": config["dataset"]["volume_marker"],
        },
    resources:
        mem_mb=16000,
    log:
        "logs/data/data_build/sub-{subject}_{split}.log",
    benchmark:
        "logs/benchmarks/data_build/sub-{subject}_{split}.tsv"
    conda:
        "../../envs/core.yaml"
    script:
        "../scripts/data_build.py"


rule data_windows:
    input:
        datasets=subject_datasets,
    output:
        figure=report(
            "results/report/data/sub-{subject}_windows.png",
            caption="../report/data_windows.rst",
            category="4. Stimuli and dataset",
            subcategory="sub-{subject}",
            labels={"figure": "clip windows"},
        ),
    log:
        "logs/data/data_windows/sub-{subject}.log",
    conda:
        "../../envs/core.yaml"
    script:
        "../scripts/data_windows.py"
