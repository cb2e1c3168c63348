# Method CineSync for audio (CineBrain, seed 000, sections 4.3 and 5.4, Tab. B.1; cinebrain.methods.cinesync_audio),
# config section methods.cinesync_audio: the fusion encoder in its audio configuration (transcript-aligned) per
# variant and subject, then F5-TTS + LoRA on its fused feature, and a waveform of every test clip through Vocos.
# GPU stages are local launcher rules that hand the task to submitit (config/launch/), as CineSync's video rules.
# Outputs follow the methods' contract (cinebrain.methods.contract): results/methods/cinesync_audio/<variant>/sub-XX/,
# the reconstructions recon/<clip>.wav, scored by the audio benchmark (workflow/rules/benchmark.smk).

CINESYNC_AUDIO = config["methods"]["cinesync_audio"]
CINESYNC_AUDIO_DIR = "results/methods/cinesync_audio/{variant}/sub-{subject}"


rule cinesync_audio_encoder:
    input:
        train="results/dataset/sub-{subject}/train",
        test="results/dataset/sub-{subject}/test",
    output:
        model=f"{CINESYNC_AUDIO_DIR}/model.safetensors",
        config=f"{CINESYNC_AUDIO_DIR}/config.json",
        metrics=f"{CINESYNC_AUDIO_DIR}/metrics.json",
        curve=f"{CINESYNC_AUDIO_DIR}/metrics.csv",
        embeddings=f"{CINESYNC_AUDIO_DIR}/test_embeddings.npz",
    params:
        model=CINESYNC_AUDIO["encoder"]["model"],
        train=CINESYNC_AUDIO["encoder"]["train"],
        evaluation=CINESYNC_AUDIO["encoder"]["evaluation"],
        fmri_augment=CINESYNC_AUDIO["encoder"]["fmri_augment"],
        roi_sets=lambda wildcards: METHODS["cinesync_audio"].variant_roi_sets(wildcards.variant),
        text_sources=CINESYNC_AUDIO["text_sources"],
        launch=CINESYNC_AUDIO["encoder"]["launch"],
        launch_dir=LAUNCH_DIR,
        device=CINESYNC_AUDIO["encoder"]["device"],
        submitit="logs/cinesync_audio/submitit/encoder_{variant}_sub-{subject}",
    localrule: True
    log:
        "logs/cinesync_audio/cinesync_audio_encoder/{variant}_sub-{subject}.log",
    benchmark:
        "logs/benchmarks/cinesync_audio_encoder/{variant}_sub-{subject}.tsv"
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/cinesync_audio_encoder.py"


rule cinesync_audio_decoder:
    input:
        train="results/dataset/sub-{subject}/train",
        encoder=f"{CINESYNC_AUDIO_DIR}/model.safetensors",
        encoder_config=f"{CINESYNC_AUDIO_DIR}/config.json",
        base=model_input(CINESYNC_AUDIO["decoder"]["model"]["base"]),
        vocoder=model_input(CINESYNC_AUDIO["decoder"]["model"]["vocoder"]),
    output:
        lora=f"{CINESYNC_AUDIO_DIR}/decoder/pytorch_lora_weights.safetensors",
        brain=f"{CINESYNC_AUDIO_DIR}/decoder/brain.safetensors",
        config=f"{CINESYNC_AUDIO_DIR}/decoder/decoder.json",
        curve=f"{CINESYNC_AUDIO_DIR}/decoder/metrics.csv",
    params:
        model=CINESYNC_AUDIO["decoder"]["model"],
        train=CINESYNC_AUDIO["decoder"]["train"],
        roi_sets=lambda wildcards: METHODS["cinesync_audio"].variant_roi_sets(wildcards.variant),
        launch=CINESYNC_AUDIO["decoder"]["launch"],
        launch_dir=LAUNCH_DIR,
        device=CINESYNC_AUDIO["decoder"]["device"],
        submitit="logs/cinesync_audio/submitit/decoder_{variant}_sub-{subject}",
    localrule: True
    log:
        "logs/cinesync_audio/cinesync_audio_decoder/{variant}_sub-{subject}.log",
    benchmark:
        "logs/benchmarks/cinesync_audio_decoder/{variant}_sub-{subject}.tsv"
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/cinesync_audio_decoder.py"


rule cinesync_audio_reconstruct:
    input:
        decoder=f"{CINESYNC_AUDIO_DIR}/decoder/decoder.json",
        lora=f"{CINESYNC_AUDIO_DIR}/decoder/pytorch_lora_weights.safetensors",
        brain=f"{CINESYNC_AUDIO_DIR}/decoder/brain.safetensors",
        test="results/dataset/sub-{subject}/test",
        train="results/dataset/sub-{subject}/train",  # the no-brain control: the mean training brain feature
        base=model_input(CINESYNC_AUDIO["decoder"]["model"]["base"]),
        vocoder=model_input(CINESYNC_AUDIO["decoder"]["model"]["vocoder"]),
    output:
        recon=directory(f"{CINESYNC_AUDIO_DIR}/recon"),
        figure=report(
            "results/report/cinesync_audio/{variant}_sub-{subject}_mel.png",
            caption="../report/cinesync_audio_mel.rst",
            category="6. Methods",
            subcategory="cinesync_audio {variant}",
            labels={"subject": "{subject}", "figure": "mel spectrograms"},
        ),
        clips=report(
            "results/report/cinesync_audio/{variant}_sub-{subject}_clips.html",
            caption="../report/cinesync_audio_clips.rst",
            category="6. Methods",
            subcategory="cinesync_audio {variant}",
            labels={"subject": "{subject}", "figure": "playable clips"},
        ),
    params:
        settings=CINESYNC_AUDIO["decoder"]["reconstruct"],
        launch=CINESYNC_AUDIO["decoder"]["launch"],
        launch_dir=LAUNCH_DIR,
        device=CINESYNC_AUDIO["decoder"]["device"],
        submitit="logs/cinesync_audio/submitit/reconstruct_{variant}_sub-{subject}",
    localrule: True
    log:
        "logs/cinesync_audio/cinesync_audio_reconstruct/{variant}_sub-{subject}.log",
    benchmark:
        "logs/benchmarks/cinesync_audio_reconstruct/{variant}_sub-{subject}.tsv"
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/cinesync_audio_reconstruct.py"


rule cinesync_audio_report:
    input:
        configs=lambda wildcards: METHODS["cinesync_audio"].decoder_configs(subjects_of("cinesync_audio")),
    output:
        summary="results/methods/cinesync_audio/decoders.csv",
        figure=report(
            "results/report/cinesync_audio/training.png",
            caption="../report/cinesync_audio_training.rst",
            category="6. Methods",
            subcategory="cinesync_audio",
            labels={"figure": "decoder training curves"},
        ),
    log:
        "logs/cinesync_audio/cinesync_audio_report.log",
    conda:
        "../../envs/core.yaml"
    script:
        "../scripts/cinesync_audio_report.py"
