# Tiny models of the real classes for the demo and tests (cinebrain.synth.models): nothing can be
# downloaded there. Off for real runs (models.tiny.enabled), which load the configured checkpoints.
# models_tiny writes them (random, but the CLIP pre-trained on synthetic scenes); the models_world_* rules
# train the synthetic world's CogVideoX VAE, its caption-to-video transformer and the benchmark's judges
# from them (cinebrain.synth.pretrain) into models.tiny.world_out, each on its own so that the transformer
# and the judges train while the encoders do — or copy the shipped world (models.tiny.world_cache, written by
# `make world`) while its key matches the code and the settings: the demo's stand-in for downloaded weights.
# models_world_audio does the same for the audio decoder's tiny Vocos and F5-TTS (cinebrain.synth.pretrain_audio;
# shipped in resources/world/audio with their own key, `make world-audio`).

if TINY_MODELS["enabled"]:
    WORLD = TINY_MODELS["world_out"]
    # the shipped world (models.tiny.world_cache): its manifest is an input of the rules that may copy it
    WORLD_CACHE = world_cache_input()
    WORLD_SETTINGS = world_settings(TINY_MODELS)
    AUDIO_WORLD_CACHE = world_cache_input("world_audio.json", "make world-audio")
    AUDIO_WORLD_SETTINGS = audio_world_settings(TINY_MODELS)

    rule models_tiny:
        output:
            models=directory(TINY_MODELS["out"]),
        params:
            clip_pretrain_steps=TINY_MODELS["clip_pretrain_steps"],
            # the set of tiny models (cinebrain.synth.models): a new one reruns the rule
            models=list(ALL_TINY_MODELS),
        log:
            "logs/models/models_tiny.log",
        benchmark:
            "logs/benchmarks/models_tiny/models_tiny.tsv"
        conda:
            "../../envs/torch.yaml"
        script:
            "../scripts/models_tiny.py"

    rule models_world_vae:
        input:
            **WORLD_CACHE,
        output:
            vae=directory(f"{WORLD}/cogvideox/vae"),
        params:
            steps=TINY_MODELS["vae_pretrain_steps"],
            clips=TINY_MODELS["world_clips"],
            world=WORLD_SETTINGS,
        log:
            "logs/models/models_world_vae.log",
        benchmark:
            "logs/benchmarks/models_world/vae.tsv"
        conda:
            "../../envs/torch.yaml"
        script:
            "../scripts/models_world_vae.py"

    rule models_world_generator:
        input:
            tiny=TINY_MODELS["out"],
            vae=f"{WORLD}/cogvideox/vae",
            **WORLD_CACHE,
        output:
            **{part: directory(f"{WORLD}/cogvideox/{part}") for part in WORLD_PIPELINE_PARTS},
            index=f"{WORLD}/cogvideox/model_index.json",
        params:
            steps=TINY_MODELS["transformer_pretrain_steps"],
            clips=TINY_MODELS["world_clips"],
            world=WORLD_SETTINGS,
        log:
            "logs/models/models_world_generator.log",
        benchmark:
            "logs/benchmarks/models_world/generator.tsv"
        conda:
            "../../envs/torch.yaml"
        script:
            "../scripts/models_world_generator.py"

    rule models_world_judges:
        input:
            **WORLD_CACHE,
        output:
            vit=directory(f"{WORLD}/vit"),
            videomae=directory(f"{WORLD}/videomae"),
        params:
            steps=TINY_MODELS["judge_pretrain_steps"],
            world=WORLD_SETTINGS,
        log:
            "logs/models/models_world_judges.log",
        benchmark:
            "logs/benchmarks/models_world/judges.tsv"
        conda:
            "../../envs/torch.yaml"
        script:
            "../scripts/models_world_judges.py"

    rule models_world_audio:
        input:
            **AUDIO_WORLD_CACHE,
        output:
            f5tts=directory(f"{WORLD}/f5tts"),
            vocos=directory(f"{WORLD}/vocos"),
        params:
            world=AUDIO_WORLD_SETTINGS,
        log:
            "logs/models/models_world_audio.log",
        benchmark:
            "logs/benchmarks/models_world/audio.tsv"
        conda:
            "../../envs/torch.yaml"
        script:
            "../scripts/models_world_audio.py"
