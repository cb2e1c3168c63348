# Method Mind-Animator ("Animate Your Thoughts", seed 002; cinebrain.methods.mindanimator), config section
# methods.mindanimator: per subject, the frame latents of its clips through the Stable Diffusion VAE, the
# semantic, structure and motion decoders (and the ablations' models), the voxel importance maps, and a
# reconstruction of every test clip per variant (the full model and the paper's ablations) by the inflated
# Stable Diffusion. GPU stages are local launcher rules that hand the task to submitit with the section's
# launch profile (config/launch/). Outputs follow the methods' contract (cinebrain.methods.contract):
# results/methods/mindanimator/<variant>/sub-XX/.

MINDANIMATOR = config["methods"]["mindanimator"]
MINDANIMATOR_DIR = "results/methods/mindanimator/mindanimator/sub-{subject}"
MINDANIMATOR_BASE = model_input(MINDANIMATOR["base"])
MINDANIMATOR_LATENTS = "results/methods/mindanimator/latents/sub-{subject}_{split}.safetensors"
# the caption augmentation's synonym table: a relative path missing from the working directory is the checkout's
_synonyms = MINDANIMATOR["semantic"]["captions"]["synonyms"]
MINDANIMATOR_SYNONYMS = _synonyms if os.path.isabs(_synonyms) or os.path.exists(_synonyms) else checkout_path(_synonyms)


rule mindanimator_latents:
    input:
        split="results/dataset/sub-{subject}/{split}",
        base=MINDANIMATOR_BASE,
    output:
        latents=MINDANIMATOR_LATENTS,
    params:
        base=MINDANIMATOR["base"],
        frames=MINDANIMATOR["frames"],
        size=MINDANIMATOR["size"],
        launch=MINDANIMATOR["launch"],
        launch_dir=LAUNCH_DIR,
        device=MINDANIMATOR["device"],
        submitit="logs/mindanimator/submitit/latents_sub-{subject}_{split}",
    localrule: True
    log:
        "logs/mindanimator/mindanimator_latents/sub-{subject}_{split}.log",
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/mindanimator_latents.py"


rule mindanimator_train:
    input:
        train="results/dataset/sub-{subject}/train",
        test="results/dataset/sub-{subject}/test",
        latents_train=expand(MINDANIMATOR_LATENTS, split="train", allow_missing=True),
        latents_test=expand(MINDANIMATOR_LATENTS, split="test", allow_missing=True),
        base=MINDANIMATOR_BASE,
        embedder=model_input(FEATURES["embedder"]["model"]),
        synonyms=MINDANIMATOR_SYNONYMS,
    output:
        model=f"{MINDANIMATOR_DIR}/model.safetensors",
        config=f"{MINDANIMATOR_DIR}/config.json",
        metrics=f"{MINDANIMATOR_DIR}/metrics.json",
        curve=f"{MINDANIMATOR_DIR}/metrics.csv",
        importance=f"{MINDANIMATOR_DIR}/importance.dscalar.nii",
        areas=f"{MINDANIMATOR_DIR}/importance.csv",
    params:
        # the training keys (the reconstruction's have their own rule)
        settings={**{k: v for k, v in MINDANIMATOR.items() if k != "reconstruct"}, "semantic": {
            **MINDANIMATOR["semantic"], "captions": {**MINDANIMATOR["semantic"]["captions"], "synonyms": MINDANIMATOR_SYNONYMS}}},
        embedder=FEATURES["embedder"]["model"],
        launch=MINDANIMATOR["launch"],
        launch_dir=LAUNCH_DIR,
        device=MINDANIMATOR["device"],
        submitit="logs/mindanimator/submitit/train_sub-{subject}",
    localrule: True
    log:
        "logs/mindanimator/mindanimator_train/sub-{subject}.log",
    benchmark:
        "logs/benchmarks/mindanimator_train/sub-{subject}.tsv"
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/mindanimator_train.py"


rule mindanimator_reconstruct:
    input:
        model=f"{MINDANIMATOR_DIR}/model.safetensors",
        config=f"{MINDANIMATOR_DIR}/config.json",
        test="results/dataset/sub-{subject}/test",
        train="results/dataset/sub-{subject}/train",  # the no-brain control and the ablations' noise
        latents_train=expand(MINDANIMATOR_LATENTS, split="train", allow_missing=True),
        base=MINDANIMATOR_BASE,
    output:
        recon=directory("results/methods/mindanimator/{variant}/sub-{subject}/recon"),
    params:
        settings=MINDANIMATOR["reconstruct"],
        launch=MINDANIMATOR["launch"],
        launch_dir=LAUNCH_DIR,
        device=MINDANIMATOR["device"],
        submitit="logs/mindanimator/submitit/reconstruct_{variant}_sub-{subject}",
    wildcard_constraints:
        variant="|".join(MINDANIMATOR["variants"]),
    localrule: True
    log:
        "logs/mindanimator/mindanimator_reconstruct/{variant}_sub-{subject}.log",
    benchmark:
        "logs/benchmarks/mindanimator_reconstruct/{variant}_sub-{subject}.tsv"
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/mindanimator_reconstruct.py"


rule mindanimator_importance:
    input:
        importance=lambda wildcards: expand(f"{MINDANIMATOR_DIR}/importance.dscalar.nii", subject=subjects_of("mindanimator")),
        config=lambda wildcards: expand(f"{MINDANIMATOR_DIR}/config.json", subject=subjects_of("mindanimator")),
        areas=lambda wildcards: expand(f"{MINDANIMATOR_DIR}/importance.csv", subject=subjects_of("mindanimator")),
    output:
        figure=report(
            "results/report/mindanimator/importance.png",
            caption="../report/mindanimator_importance.rst",
            category="6. Methods",
            subcategory="mindanimator",
            labels={"figure": "voxel importance"},
        ),
    log:
        "logs/mindanimator/mindanimator_importance.log",
    conda:
        "../../envs/core.yaml"
    script:
        "../scripts/mindanimator_importance.py"
