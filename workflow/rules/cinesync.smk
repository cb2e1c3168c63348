# Method CineSync (CineBrain, seed 000; cinebrain.methods.cinesync), config section methods.cinesync:
# the Multi-Modal Fusion Encoder per variant and subject, then the Neuro Latent Decoder (CogVideoX + LoRA
# on the fused brain feature) per decoder variant and subject, and a reconstruction of every test clip.
# GPU stages: local launcher rules that hand the task to submitit with the section's launch profile
# (config/launch/), wait for it and check its outputs.  Outputs follow the methods' contract
# (cinebrain.methods.contract): results/methods/cinesync/<variant>/sub-XX/.

CINESYNC = config["methods"]["cinesync"]
CINESYNC_DIR = "results/methods/cinesync/{variant}/sub-{subject}"


rule cinesync_encoder:
    input:
        train="results/dataset/sub-{subject}/train",
        test="results/dataset/sub-{subject}/test",
    output:
        model=f"{CINESYNC_DIR}/model.safetensors",
        config=f"{CINESYNC_DIR}/config.json",
        metrics=f"{CINESYNC_DIR}/metrics.json",
        curve=f"{CINESYNC_DIR}/metrics.csv",
        embeddings=f"{CINESYNC_DIR}/test_embeddings.npz",
    params:
        model=CINESYNC["encoder"]["model"],
        train=CINESYNC["encoder"]["train"],
        evaluation=CINESYNC["encoder"]["evaluation"],
        fmri_augment=CINESYNC["encoder"]["fmri_augment"],
        launch=CINESYNC["encoder"]["launch"],
        launch_dir=LAUNCH_DIR,
        device=CINESYNC["encoder"]["device"],
        roi_sets=CINESYNC["roi_sets"],
        submitit="logs/cinesync/submitit/encoder_{variant}_sub-{subject}",
    localrule: True
    log:
        "logs/cinesync/cinesync_encoder/{variant}_sub-{subject}.log",
    benchmark:
        "logs/benchmarks/cinesync_encoder/{variant}_sub-{subject}.tsv"
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/cinesync_encoder.py"


rule cinesync_decoder:
    input:
        train="results/dataset/sub-{subject}/train",
        encoder=f"{CINESYNC_DIR}/model.safetensors",
        encoder_config=f"{CINESYNC_DIR}/config.json",
        base=model_input(CINESYNC["decoder"]["model"]["base"]),
    output:
        lora=f"{CINESYNC_DIR}/decoder/pytorch_lora_weights.safetensors",
        brain=f"{CINESYNC_DIR}/decoder/brain.safetensors",
        config=f"{CINESYNC_DIR}/decoder/decoder.json",
        curve=f"{CINESYNC_DIR}/decoder/metrics.csv",
    params:
        model=CINESYNC["decoder"]["model"],
        train=CINESYNC["decoder"]["train"],
        launch=CINESYNC["decoder"]["launch"],
        launch_dir=LAUNCH_DIR,
        device=CINESYNC["decoder"]["device"],
        roi_sets=CINESYNC["roi_sets"],
        submitit="logs/cinesync/submitit/decoder_{variant}_sub-{subject}",
    localrule: True
    log:
        "logs/cinesync/cinesync_decoder/{variant}_sub-{subject}.log",
    benchmark:
        "logs/benchmarks/cinesync_decoder/{variant}_sub-{subject}.tsv"
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/cinesync_decoder.py"


rule cinesync_reconstruct:
    input:
        decoder=f"{CINESYNC_DIR}/decoder/decoder.json",
        lora=f"{CINESYNC_DIR}/decoder/pytorch_lora_weights.safetensors",
        brain=f"{CINESYNC_DIR}/decoder/brain.safetensors",
        test="results/dataset/sub-{subject}/test",
        train="results/dataset/sub-{subject}/train",  # the no-brain control: the mean training brain feature
        base=model_input(CINESYNC["decoder"]["model"]["base"]),
    output:
        recon=directory(f"{CINESYNC_DIR}/recon"),
        figure=report(
            "results/report/cinesync/{variant}_sub-{subject}_recon.png",
            caption="../report/cinesync_recon.rst",
            category="6. Methods",
            subcategory="cinesync {variant}",
            labels={"subject": "{subject}", "figure": "ground truth | reconstruction"},
        ),
    params:
        settings=CINESYNC["decoder"]["reconstruct"],
        launch=CINESYNC["decoder"]["launch"],
        launch_dir=LAUNCH_DIR,
        device=CINESYNC["decoder"]["device"],
        submitit="logs/cinesync/submitit/reconstruct_{variant}_sub-{subject}",
    localrule: True
    log:
        "logs/cinesync/cinesync_reconstruct/{variant}_sub-{subject}.log",
    benchmark:
        "logs/benchmarks/cinesync_reconstruct/{variant}_sub-{subject}.tsv"
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/cinesync_reconstruct.py"


rule cinesync_report:
    input:
        configs=lambda wildcards: METHODS["cinesync"].decoder_configs(subjects_of("cinesync")),
    output:
        summary="results/methods/cinesync/decoders.csv",
        figure=report(
            "results/report/cinesync/training.png",
            caption="../report/cinesync_training.rst",
            category="6. Methods",
            subcategory="cinesync",
            labels={"figure": "decoder training curves"},
        ),
    log:
        "logs/cinesync/cinesync_report.log",
    conda:
        "../../envs/core.yaml"
    script:
        "../scripts/cinesync_report.py"

