# Stages 10-11: CineSync's Neuro Latent Decoder per encoder variant and subject (cinebrain.models.decoder):
# LoRA fine-tuning of CogVideoX conditioned on the fused brain feature, then a reconstruction of every
# test clip. GPU stages: local launcher rules that hand the task to submitit with decoder.launch.


rule decoder_train:
    input:
        train="results/dataset/sub-{subject}/train",
        encoder="results/encoder/{variant}/sub-{subject}/model.safetensors",
        encoder_config="results/encoder/{variant}/sub-{subject}/config.json",
        columns="results/fmri/roi_columns.json",
        base=model_input(DECODER["model"]["base"]),
    output:
        lora="results/decoder/{variant}/sub-{subject}/pytorch_lora_weights.safetensors",
        brain="results/decoder/{variant}/sub-{subject}/brain.safetensors",
        config="results/decoder/{variant}/sub-{subject}/decoder.json",
        curve="results/decoder/{variant}/sub-{subject}/metrics.csv",
    params:
        model=DECODER["model"],
        train=DECODER["train"],
        launch=DECODER["launch"],
        device=DECODER["device"],
        roi_sets=ENCODER["roi_sets"],
        submitit="logs/decoder/submitit/train_{variant}_sub-{subject}",
    localrule: True
    log:
        "logs/decoder/decoder_train/{variant}_sub-{subject}.log",
    benchmark:
        "logs/benchmarks/decoder_train/{variant}_sub-{subject}.tsv"
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/decoder_train.py"


rule decoder_reconstruct:
    input:
        decoder="results/decoder/{variant}/sub-{subject}/decoder.json",
        lora="results/decoder/{variant}/sub-{subject}/pytorch_lora_weights.safetensors",
        brain="results/decoder/{variant}/sub-{subject}/brain.safetensors",
        test="results/dataset/sub-{subject}/test",
        base=model_input(DECODER["model"]["base"]),
    output:
        recon=directory("results/recon/{variant}/sub-{subject}"),
        figure=report(
            "results/report/decoder/{variant}_sub-{subject}_recon.png",
            caption="../report/decoder_recon.rst",
            category="6. Decoder",
            subcategory="{variant}",
            labels={"subject": "{subject}", "figure": "ground truth | reconstruction"},
        ),
    params:
        settings=DECODER["reconstruct"],
        launch=DECODER["launch"],
        device=DECODER["device"],
        submitit="logs/decoder/submitit/reconstruct_{variant}_sub-{subject}",
    localrule: True
    log:
        "logs/decoder/decoder_reconstruct/{variant}_sub-{subject}.log",
    benchmark:
        "logs/benchmarks/decoder_reconstruct/{variant}_sub-{subject}.tsv"
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/decoder_reconstruct.py"


rule decoder_report:
    input:
        configs=lambda wildcards: [f for f in decoder_outputs() if f.endswith("decoder.json")],
    output:
        summary="results/decoder/summary.csv",
        figure=report(
            "results/report/decoder/training.png",
            caption="../report/decoder_training.rst",
            category="6. Decoder",
            labels={"figure": "training curves"},
        ),
    log:
        "logs/decoder/decoder_report.log",
    conda:
        "../../envs/core.yaml"
    script:
        "../scripts/decoder_report.py"
