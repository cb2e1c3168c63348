# Method NeuroCine (seed 003; cinebrain.methods.neurocine), config section methods.neurocine: per subject,
# the frame latents of its clips through the Stable Diffusion VAE, phase 1's fMRI encoder (spatial and temporal
# views, CLIP alignment), phase 2's video diffusion (SD inflated with pseudo-3-D convolutions and temporal
# attention, fine-tuned on captions then on the fMRI, dependent prior noise) and a reconstruction of every test
# clip. GPU stages are local launcher rules that hand the task to submitit with the section's launch profile
# (config/launch/). Outputs follow the methods' contract: results/methods/neurocine/neurocine/sub-XX/.

NEUROCINE = config["methods"]["neurocine"]
NEUROCINE_DIR = "results/methods/neurocine/neurocine/sub-{subject}"
NEUROCINE_BASE = model_input(NEUROCINE["base"])
NEUROCINE_LATENTS = "results/methods/neurocine/latents/sub-{subject}_{split}.safetensors"
NEUROCINE_PRETRAINED = [NEUROCINE["encoder"]["model"]["pretrained"]] if NEUROCINE["encoder"]["model"]["pretrained"] else []


rule neurocine_latents:
    input:
        split="results/dataset/sub-{subject}/{split}",
        base=NEUROCINE_BASE,
    output:
        latents=NEUROCINE_LATENTS,
    params:
        base=NEUROCINE["base"],
        frames=NEUROCINE["frames"],
        size=NEUROCINE["size"],
        launch=NEUROCINE["launch"],
        launch_dir=LAUNCH_DIR,
        device=NEUROCINE["device"],
        submitit="logs/neurocine/submitit/latents_sub-{subject}_{split}",
    localrule: True
    log:
        "logs/neurocine/neurocine_latents/sub-{subject}_{split}.log",
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/neurocine_latents.py"


rule neurocine_encoder:
    input:
        train="results/dataset/sub-{subject}/train",
        test="results/dataset/sub-{subject}/test",
        base=NEUROCINE_BASE,  # its text encoder's condition shape sizes the encoder's head
        pretrained=NEUROCINE_PRETRAINED,
    output:
        model=f"{NEUROCINE_DIR}/model.safetensors",
        config=f"{NEUROCINE_DIR}/config.json",
        metrics=f"{NEUROCINE_DIR}/metrics.json",
        curve=f"{NEUROCINE_DIR}/metrics.csv",
    params:
        # phase 1's keys: the encoder section and what sizes it
        settings={k: NEUROCINE[k] for k in ("roi_sets", "base", "encoder", "evaluation")},
        launch=NEUROCINE["launch"],
        launch_dir=LAUNCH_DIR,
        device=NEUROCINE["device"],
        submitit="logs/neurocine/submitit/encoder_sub-{subject}",
    localrule: True
    log:
        "logs/neurocine/neurocine_encoder/sub-{subject}.log",
    benchmark:
        "logs/benchmarks/neurocine_encoder/sub-{subject}.tsv"
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/neurocine_encoder.py"


rule neurocine_decoder:
    input:
        train="results/dataset/sub-{subject}/train",
        model=f"{NEUROCINE_DIR}/model.safetensors",
        config=f"{NEUROCINE_DIR}/config.json",
        latents_train=expand(NEUROCINE_LATENTS, split="train", allow_missing=True),
        base=NEUROCINE_BASE,
    output:
        unet=f"{NEUROCINE_DIR}/decoder/unet.safetensors",
        encoder=f"{NEUROCINE_DIR}/decoder/encoder.safetensors",
        config=f"{NEUROCINE_DIR}/decoder/decoder.json",
        curve=f"{NEUROCINE_DIR}/decoder/metrics.csv",
    params:
        # the phase-2 keys (the reconstruction's have their own rule)
        settings={**NEUROCINE, "decoder": {k: v for k, v in NEUROCINE["decoder"].items() if k != "reconstruct"}},
        launch=NEUROCINE["launch"],
        launch_dir=LAUNCH_DIR,
        device=NEUROCINE["device"],
        submitit="logs/neurocine/submitit/decoder_sub-{subject}",
    localrule: True
    log:
        "logs/neurocine/neurocine_decoder/sub-{subject}.log",
    benchmark:
        "logs/benchmarks/neurocine_decoder/sub-{subject}.tsv"
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/neurocine_decoder.py"


rule neurocine_reconstruct:
    input:
        unet=f"{NEUROCINE_DIR}/decoder/unet.safetensors",
        encoder=f"{NEUROCINE_DIR}/decoder/encoder.safetensors",
        config=f"{NEUROCINE_DIR}/decoder/decoder.json",
        test="results/dataset/sub-{subject}/test",
        train="results/dataset/sub-{subject}/train",  # the no-brain control: the mean training window
        base=NEUROCINE_BASE,
    output:
        recon=directory(f"{NEUROCINE_DIR}/recon"),
    params:
        settings=NEUROCINE["decoder"]["reconstruct"],
        launch=NEUROCINE["launch"],
        launch_dir=LAUNCH_DIR,
        device=NEUROCINE["device"],
        submitit="logs/neurocine/submitit/reconstruct_sub-{subject}",
    localrule: True
    log:
        "logs/neurocine/neurocine_reconstruct/sub-{subject}.log",
    benchmark:
        "logs/benchmarks/neurocine_reconstruct/sub-{subject}.tsv"
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/neurocine_reconstruct.py"
