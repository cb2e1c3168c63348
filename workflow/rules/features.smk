# Stage 7: frozen target features per episode (cinebrain.features), cached as safetensors:
# CLIP/SigLIP frame and caption embeddings, the decoder VAE's latents of every clip, and (when their
# model is set) each clip's action embedding (X-CLIP) and Wan VAE latents, for CineNeuron.


rule features_embed:
    input:
        table="results/stimuli/{episode}_clips.parquet",
        clips="results/stimuli/{episode}",
        captions="results/captions/{episode}.parquet",
        model=model_input(FEATURES["embedder"]["model"]),
    output:
        features=f"results/features/{FEATURES['embedder']['name']}/{{episode}}.safetensors",
    params:
        model=FEATURES["embedder"]["model"],
        batch_size=FEATURES["embedder"]["batch_size"],
        device=FEATURES["device"],
    resources:
        mem_mb=8000,
    log:
        "logs/features/features_embed/{episode}.log",
    benchmark:
        "logs/benchmarks/features_embed/{episode}.tsv"
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/features_embed.py"


rule features_latents:
    input:
        table="results/stimuli/{episode}_clips.parquet",
        clips="results/stimuli/{episode}",
        model=model_input(FEATURES["vae"]["model"], FEATURES["vae"].get("subfolder")),
    output:
        features=f"results/features/{FEATURES['vae']['name']}/{{episode}}.safetensors",
    params:
        vae=FEATURES["vae"],
        device=FEATURES["device"],
    resources:
        mem_mb=16000,
    log:
        "logs/features/features_latents/{episode}.log",
    benchmark:
        "logs/benchmarks/features_latents/{episode}.tsv"
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/features_latents.py"


if FEATURES["action"]["model"]:

    rule features_action:
        input:
            table="results/stimuli/{episode}_clips.parquet",
            clips="results/stimuli/{episode}",
            model=model_input(FEATURES["action"]["model"]),
        output:
            features=f"results/features/{FEATURES['action']['name']}/{{episode}}.safetensors",
        params:
            model=FEATURES["action"]["model"],
            batch_size=FEATURES["action"]["batch_size"],
            device=FEATURES["device"],
        resources:
            mem_mb=8000,
        log:
            "logs/features/features_action/{episode}.log",
        benchmark:
            "logs/benchmarks/features_action/{episode}.tsv"
        conda:
            "../../envs/torch.yaml"
        script:
            "../scripts/features_action.py"


if FEATURES["wan_vae"]["model"]:

    rule features_wan_latents:
        input:
            table="results/stimuli/{episode}_clips.parquet",
            clips="results/stimuli/{episode}",
            model=model_input(FEATURES["wan_vae"]["model"], FEATURES["wan_vae"].get("subfolder")),
        output:
            features=f"results/features/{FEATURES['wan_vae']['name']}/{{episode}}.safetensors",
        params:
            vae=FEATURES["wan_vae"],
            device=FEATURES["device"],
        resources:
            mem_mb=16000,
        log:
            "logs/features/features_wan_latents/{episode}.log",
        benchmark:
            "logs/benchmarks/features_wan_latents/{episode}.tsv"
        conda:
            "../../envs/torch.yaml"
        script:
            "../scripts/features_latents.py"
