# Method Brain Netflix (seed 004; cinebrain.methods.brainflix), config section methods.brainflix: per subject and
# split, the regression targets (the generator VAE's clip latents z, BLIP's embeddings b); per pool of subjects
# (sub-XX: one subject; all: every subject of the method; loso-XX: all but XX, whose files are never inputs),
# stage 1 (masked brain modelling on the pool's non-test runs, then caption alignment) and stage 2 (ridge and MLP
# regression); per model variant and subject, the contract folder (retrieval, regression MSE, predictions); per
# variant and subject, the reconstructions of the test clips by video-to-video diffusion. GPU stages are local
# launcher rules that hand the task to submitit with the section's launch profile (config/launch/). Outputs
# follow the methods' contract: results/methods/brainflix/<variant>/sub-XX/.

BRAINFLIX = config["methods"]["brainflix"]
BRAINFLIX_GENERATOR = model_input(BRAINFLIX["generator"])
BRAINFLIX_BLIP = model_input(BRAINFLIX["blip"])
# what a rule's launcher passes on: the method's section, without the keys of other rules
BRAINFLIX_TRAINING = {k: v for k, v in BRAINFLIX.items() if k not in ("caption", "reconstruct")}


wildcard_constraints:
    pool="sub-[a-zA-Z0-9]+|all|loso-[a-zA-Z0-9]+",


rule brainflix_targets:
    input:
        split="results/dataset/sub-{subject}/{split}",
        generator=BRAINFLIX_GENERATOR,
        blip=BRAINFLIX_BLIP,
    output:
        latents=f"{BRAINFLIX_TARGETS}_latents.safetensors",
        blip=f"{BRAINFLIX_TARGETS}_blip.safetensors",
    params:
        generator=BRAINFLIX["generator"],
        blip=BRAINFLIX["blip"],
        frames=BRAINFLIX["frames"],
        size=BRAINFLIX["size"],
        launch=BRAINFLIX["launch"],
        launch_dir=LAUNCH_DIR,
        device=BRAINFLIX["device"],
        submitit="logs/brainflix/submitit/targets_sub-{subject}_{split}",
    localrule: True
    log:
        "logs/brainflix/brainflix_targets/sub-{subject}_{split}.log",
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/brainflix_targets.py"


rule brainflix_stage1:
    input:
        runs=lambda wildcards: [p for _, p in brainflix_runs(wildcards)],
        train=lambda wildcards: list(brainflix_train_dirs(wildcards).values()),
    output:
        model=f"{BRAINFLIX_MODELS}/stage1.safetensors",
        config=f"{BRAINFLIX_MODELS}/stage1.json",
        mbm=f"{BRAINFLIX_MODELS}/mbm.csv",
        align=f"{BRAINFLIX_MODELS}/align.csv",
    params:
        runs=brainflix_runs,
        train_dirs=brainflix_train_dirs,
        held_out=brainflix_held_out,
        settings=BRAINFLIX_TRAINING,
        launch=BRAINFLIX["launch"],
        launch_dir=LAUNCH_DIR,
        device=BRAINFLIX["device"],
        submitit="logs/brainflix/submitit/stage1_{pool}",
    localrule: True
    log:
        "logs/brainflix/brainflix_stage1/{pool}.log",
    benchmark:
        "logs/benchmarks/brainflix_stage1/{pool}.tsv"
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/brainflix_stage1.py"


rule brainflix_regress:
    input:
        model=f"{BRAINFLIX_MODELS}/stage1.safetensors",
        config=f"{BRAINFLIX_MODELS}/stage1.json",
        train=lambda wildcards: list(brainflix_train_dirs(wildcards).values()),
        latents=lambda wildcards: list(brainflix_targets("z")(wildcards).values()),
        blip=lambda wildcards: list(brainflix_targets("b")(wildcards).values()),
    output:
        config=f"{BRAINFLIX_MODELS}/regress.json",
        regressors=[f"{BRAINFLIX_MODELS}/regress_{b}_{t}.safetensors" for b in BRAINFLIX["regression"]["backbones"]
                    for t in ("z", "b")],
    params:
        train_dirs=brainflix_train_dirs,
        latents=brainflix_targets("z"),
        blips=brainflix_targets("b"),
        held_out=brainflix_held_out,
        settings=BRAINFLIX_TRAINING,
        launch=BRAINFLIX["launch"],
        launch_dir=LAUNCH_DIR,
        device=BRAINFLIX["device"],
        submitit="logs/brainflix/submitit/regress_{pool}",
    localrule: True
    log:
        "logs/brainflix/brainflix_regress/{pool}.log",
    benchmark:
        "logs/benchmarks/brainflix_regress/{pool}.tsv"
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/brainflix_regress.py"


rule brainflix_predict:
    input:
        unpack(brainflix_pool_inputs),
        test="results/dataset/sub-{subject}/test",
        latents=f"{BRAINFLIX_TARGETS}_latents.safetensors".replace("{split}", "test"),
        blip=f"{BRAINFLIX_TARGETS}_blip.safetensors".replace("{split}", "test"),
    output:
        config="results/methods/brainflix/{variant}/sub-{subject}/config.json",
        metrics="results/methods/brainflix/{variant}/sub-{subject}/metrics.json",
        curve="results/methods/brainflix/{variant}/sub-{subject}/metrics.csv",
        predictions="results/methods/brainflix/{variant}/sub-{subject}/predictions.safetensors",
    params:
        pool=brainflix_pool,
        train_dirs=lambda wildcards: {Path(d).parent.name[4:]: d for d in brainflix_pool_inputs(wildcards)["train"]},
        settings=BRAINFLIX_TRAINING,
        device=BRAINFLIX["device"],
    wildcard_constraints:
        variant="brainflix|pooled|loso",
    log:
        "logs/brainflix/brainflix_predict/{variant}_sub-{subject}.log",
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/brainflix_predict.py"


rule brainflix_reconstruct:
    input:
        predictions=lambda wildcards: f"results/methods/brainflix/{BRAINFLIX_MODEL_OF[wildcards.variant]}/sub-{wildcards.subject}/predictions.safetensors",
        test="results/dataset/sub-{subject}/test",
        generator=BRAINFLIX_GENERATOR,
        blip=BRAINFLIX_BLIP,
    output:
        recon=directory("results/methods/brainflix/{variant}/sub-{subject}/recon"),
    params:
        generator=BRAINFLIX["generator"],
        blip=BRAINFLIX["blip"],
        settings=BRAINFLIX,
        launch=BRAINFLIX["launch"],
        launch_dir=LAUNCH_DIR,
        device=BRAINFLIX["device"],
        submitit="logs/brainflix/submitit/reconstruct_{variant}_sub-{subject}",
    wildcard_constraints:
        variant="|".join(BRAINFLIX["variants"]),
    localrule: True
    log:
        "logs/brainflix/brainflix_reconstruct/{variant}_sub-{subject}.log",
    benchmark:
        "logs/benchmarks/brainflix_reconstruct/{variant}_sub-{subject}.tsv"
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/brainflix_reconstruct.py"


rule brainflix_report:
    input:
        metrics=lambda wildcards: [f"results/methods/brainflix/{v}/sub-{s}/metrics.json"
                                   for v in METHODS["brainflix"].model_variants() for s in subjects_of("brainflix")],
    output:
        figure=report(
            "results/report/brainflix/regression.png",
            caption="../report/brainflix_regression.rst",
            category="6. Methods",
            subcategory="brainflix",
            labels={"figure": "regression error"},
        ),
    log:
        "logs/brainflix/brainflix_report.log",
    conda:
        "../../envs/core.yaml"
    script:
        "../scripts/brainflix_report.py"
