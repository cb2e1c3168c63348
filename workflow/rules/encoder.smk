# Stage 9: CineSync's Multi-Modal Fusion Encoder per variant and subject (cinebrain.models.encoder).
# A GPU stage: the rule is a local launcher that hands the training task to submitit with the launch
# profile named in encoder.launch (config/launch/), waits for it and checks its outputs.


rule encoder_train:
    input:
        train="results/dataset/sub-{subject}/train",
        test="results/dataset/sub-{subject}/test",
        columns="results/fmri/roi_columns.json",
    output:
        model="results/encoder/{variant}/sub-{subject}/model.safetensors",
        config="results/encoder/{variant}/sub-{subject}/config.json",
        metrics="results/encoder/{variant}/sub-{subject}/metrics.json",
        curve="results/encoder/{variant}/sub-{subject}/metrics.csv",
        embeddings="results/encoder/{variant}/sub-{subject}/test_embeddings.npz",
    params:
        model=ENCODER["model"],
        train=ENCODER["train"],
        evaluation=ENCODER["evaluation"],
        launch=ENCODER["launch"],
        device=ENCODER["device"],
        roi_sets=ENCODER["roi_sets"],
        submitit="logs/encoder/submitit/{variant}_sub-{subject}",
    localrule: True
    log:
        "logs/encoder/encoder_train/{variant}_sub-{subject}.log",
    benchmark:
        "logs/benchmarks/encoder_train/{variant}_sub-{subject}.tsv"
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/encoder_train.py"


rule encoder_report:
    input:
        metrics=lambda wildcards: [f for f in encoder_outputs() if f.endswith("metrics.json")],
    output:
        summary="results/encoder/summary.csv",
        figure=report(
            "results/report/encoder/retrieval.png",
            caption="../report/encoder_retrieval.rst",
            category="5. Encoder",
            labels={"figure": "retrieval and training curves"},
        ),
    log:
        "logs/encoder/encoder_report.log",
    conda:
        "../../envs/core.yaml"
    script:
        "../scripts/encoder_report.py"
