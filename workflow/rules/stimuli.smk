# Stage 5: every episode cut into clips (cinebrain.stimuli): frames, audio, shot boundaries.


rule stimuli_cut:
    input:
        stimulus=stimulus_file,
    output:
        clips=directory("results/stimuli/{episode}"),
        table="results/stimuli/{episode}_clips.parquet",
    params:
        settings=STIMULI,
    resources:
        mem_mb=8000,
    log:
        "logs/stimuli/stimuli_cut/{episode}.log",
    benchmark:
        "logs/benchmarks/stimuli_cut/{episode}.tsv"
    conda:
        "../../envs/core.yaml"
    script:
        "../scripts/stimuli_cut.py"


rule stimuli_table:
    input:
        tables=lambda wildcards: expand("results/stimuli/{episode}_clips.parquet", episode=episodes()),
    output:
        table="results/stimuli/clips.parquet",
    log:
        "logs/stimuli/stimuli_table.log",
    conda:
        "../../envs/core.yaml"
    script:
        "../scripts/stimuli_table.py"


rule stimuli_sheet:
    input:
        table="results/stimuli/clips.parquet",
    output:
        figure=report(
            "results/report/stimuli/clips.png",
            caption="../report/stimuli_clips.rst",
            category="4. Stimuli and dataset",
            labels={"figure": "clips and shot boundaries"},
        ),
    log:
        "logs/stimuli/stimuli_sheet.log",
    conda:
        "../../envs/core.yaml"
    script:
        "../scripts/stimuli_sheet.py"
