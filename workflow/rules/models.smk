# Tiny random models of the real classes for the demo and tests (cinebrain.synth.models): nothing can
# be downloaded there. Off for real runs (models.tiny.enabled), which load the configured checkpoints.

if TINY_MODELS["enabled"]:

    rule models_tiny:
        output:
            models=directory(TINY_MODELS["out"]),
        params:
            clip_pretrain_steps=TINY_MODELS["clip_pretrain_steps"],
            world_clips=TINY_MODELS["world_clips"],
            vae_pretrain_steps=TINY_MODELS["vae_pretrain_steps"],
            transformer_pretrain_steps=TINY_MODELS["transformer_pretrain_steps"],
            judge_pretrain_steps=TINY_MODELS["judge_pretrain_steps"],
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
