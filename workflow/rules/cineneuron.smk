# Method CineNeuron ("Bridging Brain and Semantics", seed 001; cinebrain.methods.cineneuron), config section
# methods.cineneuron: per subject, the Brain Model (stage 1), the memory pool of the training clips, the
# Mixture-of-Memories + Wan2.1 LoRA decoder trained jointly with the Brain Model (stage 2), and a
# reconstruction of every test clip. GPU stages are local launcher rules that hand the task to submitit with
# the section's launch profile (config/launch/). Outputs follow the methods' contract
# (cinebrain.methods.contract): results/methods/cineneuron/cineneuron/sub-XX/.

CINENEURON = config["methods"]["cineneuron"]
CINENEURON_DIR = "results/methods/cineneuron/{variant}/sub-{subject}"
CINENEURON_BASE = model_input(CINENEURON["decoder"]["model"]["base"])
CINENEURON_EXTRA = [CINENEURON["memory"]["extra"]] if CINENEURON["memory"]["extra"] else []


rule cineneuron_brain:
    input:
        train="results/dataset/sub-{subject}/train",
        test="results/dataset/sub-{subject}/test",
    output:
        model=f"{CINENEURON_DIR}/model.safetensors",
        config=f"{CINENEURON_DIR}/config.json",
        metrics=f"{CINENEURON_DIR}/metrics.json",
        curve=f"{CINENEURON_DIR}/metrics.csv",
        embeddings=f"{CINENEURON_DIR}/test_embeddings.npz",
    params:
        model=CINENEURON["brain"]["model"],
        train=CINENEURON["brain"]["train"],
        evaluation=CINENEURON["brain"]["evaluation"],
        fmri_augment=CINENEURON["brain"]["fmri_augment"],
        roi_sets=CINENEURON["roi_sets"],
        launch=CINENEURON["brain"]["launch"],
        launch_dir=LAUNCH_DIR,
        device=CINENEURON["brain"]["device"],
        submitit="logs/cineneuron/submitit/brain_{variant}_sub-{subject}",
    localrule: True
    log:
        "logs/cineneuron/cineneuron_brain/{variant}_sub-{subject}.log",
    benchmark:
        "logs/benchmarks/cineneuron_brain/{variant}_sub-{subject}.tsv"
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/cineneuron_brain.py"


rule cineneuron_categories:
    input:
        metrics=lambda wildcards: expand(f"{CINENEURON_DIR}/metrics.json", variant="cineneuron", subject=subjects_of("cineneuron")),
    output:
        table="results/methods/cineneuron/categories.csv",
        figure=report(
            "results/report/cineneuron/categories.png",
            caption="../report/cineneuron_categories.rst",
            category="6. Methods",
            subcategory="cineneuron",
            labels={"figure": "superclass prediction"},
        ),
    log:
        "logs/cineneuron/cineneuron_categories.log",
    conda:
        "../../envs/core.yaml"
    script:
        "../scripts/cineneuron_categories.py"


rule cineneuron_memory:
    input:
        train="results/dataset/sub-{subject}/train",
        test="results/dataset/sub-{subject}/test",  # the leakage guard
        brain=f"{CINENEURON_DIR}/model.safetensors",
        config=f"{CINENEURON_DIR}/config.json",
        base=CINENEURON_BASE,
        extra=CINENEURON_EXTRA,
    output:
        pool=f"{CINENEURON_DIR}/memory.safetensors",
    params:
        base=CINENEURON["decoder"]["model"]["base"],
        tokens=CINENEURON["decoder"]["model"]["tokens"],
        launch=CINENEURON["decoder"]["launch"],
        launch_dir=LAUNCH_DIR,
        device=CINENEURON["decoder"]["device"],
        submitit="logs/cineneuron/submitit/memory_{variant}_sub-{subject}",
    localrule: True
    log:
        "logs/cineneuron/cineneuron_memory/{variant}_sub-{subject}.log",
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/cineneuron_memory.py"


rule cineneuron_decoder:
    input:
        train="results/dataset/sub-{subject}/train",
        brain=f"{CINENEURON_DIR}/model.safetensors",
        config=f"{CINENEURON_DIR}/config.json",
        pool=f"{CINENEURON_DIR}/memory.safetensors",
        base=CINENEURON_BASE,
    output:
        lora=f"{CINENEURON_DIR}/decoder/pytorch_lora_weights.safetensors",
        state=f"{CINENEURON_DIR}/decoder/brain.safetensors",
        config=f"{CINENEURON_DIR}/decoder/decoder.json",
        curve=f"{CINENEURON_DIR}/decoder/metrics.csv",
    params:
        model=CINENEURON["decoder"]["model"],
        memory=CINENEURON["memory"],
        train=CINENEURON["decoder"]["train"],
        launch=CINENEURON["decoder"]["launch"],
        launch_dir=LAUNCH_DIR,
        device=CINENEURON["decoder"]["device"],
        submitit="logs/cineneuron/submitit/decoder_{variant}_sub-{subject}",
    localrule: True
    log:
        "logs/cineneuron/cineneuron_decoder/{variant}_sub-{subject}.log",
    benchmark:
        "logs/benchmarks/cineneuron_decoder/{variant}_sub-{subject}.tsv"
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/cineneuron_decoder.py"


rule cineneuron_reconstruct:
    input:
        decoder=f"{CINENEURON_DIR}/decoder/decoder.json",
        lora=f"{CINENEURON_DIR}/decoder/pytorch_lora_weights.safetensors",
        state=f"{CINENEURON_DIR}/decoder/brain.safetensors",
        pool=f"{CINENEURON_DIR}/memory.safetensors",
        test="results/dataset/sub-{subject}/test",
        train="results/dataset/sub-{subject}/train",  # the no-brain control: the mean training condition
        base=CINENEURON_BASE,
    output:
        recon=directory(f"{CINENEURON_DIR}/recon"),
    params:
        settings=CINENEURON["decoder"]["reconstruct"],
        launch=CINENEURON["decoder"]["launch"],
        launch_dir=LAUNCH_DIR,
        device=CINENEURON["decoder"]["device"],
        submitit="logs/cineneuron/submitit/reconstruct_{variant}_sub-{subject}",
    localrule: True
    log:
        "logs/cineneuron/cineneuron_reconstruct/{variant}_sub-{subject}.log",
    benchmark:
        "logs/benchmarks/cineneuron_reconstruct/{variant}_sub-{subject}.tsv"
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/cineneuron_reconstruct.py"
