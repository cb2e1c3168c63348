# Stage 12: Cine-Benchmark (cinebrain.benchmark): every enabled method's reconstructions (the methods'
# contract: results/methods/<method>/<variant>/sub-XX/recon) scored against their ground-truth clips, then
# one summary with chance levels and confidence intervals, set beside the papers' published numbers.


rule benchmark_ceiling:
    input:
        tests=model_test_sets,
        generator=model_input(BENCHMARK["ceiling"]["generator"]),
    output:
        recon=directory("results/ceiling/caption/recon"),
    params:
        settings=BENCHMARK["ceiling"],
    log:
        "logs/benchmark/benchmark_ceiling.log",
    benchmark:
        "logs/benchmarks/benchmark_ceiling.tsv"
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/benchmark_ceiling.py"


rule benchmark_ground_truth:
    input:
        tests=model_test_sets,
    output:
        recon=directory("results/ceiling/ground_truth/recon"),
    log:
        "logs/benchmark/benchmark_ground_truth.log",
    conda:
        "../../envs/core.yaml"
    script:
        "../scripts/benchmark_ground_truth.py"


rule benchmark_score:
    input:
        unpack(ceiling_reference),
        recon=score_input,
        test="results/dataset/sub-{subject}/test",
        networks=benchmark_networks,
    output:
        scores=directory("results/benchmark/{method}/{variant}/sub-{subject}"),
    params:
        networks=BENCHMARK["networks"],
        settings={k: v for k, v in BENCHMARK.items() if k not in ("networks", "device")},
        device=BENCHMARK["device"],
    resources:
        mem_mb=16000,
    log:
        "logs/benchmark/benchmark_score/{method}_{variant}_sub-{subject}.log",
    benchmark:
        "logs/benchmarks/benchmark_score/{method}_{variant}_sub-{subject}.tsv"
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/benchmark_score.py"


rule benchmark_summary:
    input:
        # every run's scores and the reconstructions they scored (the figure of best/median/worst clips)
        scores=score_dirs,
        recon=recon_dirs,
        published=PUBLISHED_RESULTS,
    output:
        summary=report(
            "results/benchmark/summary.csv",
            caption="../report/benchmark_table.rst",
            category="7. Benchmark",
            labels={"figure": "table"},
        ),
        table="results/benchmark/summary.md",
        figure=report(
            "results/report/benchmark/benchmark.png",
            caption="../report/benchmark.rst",
            category="7. Benchmark",
            labels={"figure": "Cine-Benchmark"},
        ),
        clips=report(
            "results/report/benchmark/clips.png",
            caption="../report/benchmark_clips.rst",
            category="7. Benchmark",
            labels={"figure": "best, median and worst reconstructions"},
        ),
        # the papers' published rows of this dataset beside ours (resources/published_results.csv)
        published=report(
            "results/benchmark/published.csv",
            caption="../report/benchmark_published.rst",
            category="7. Benchmark",
            labels={"figure": "published results beside ours"},
        ),
        published_table="results/benchmark/published.md",
    params:
        settings={k: v for k, v in BENCHMARK.items() if k not in ("networks", "device")},
        dataset=PUBLISHED_DATASET,
    log:
        "logs/benchmark/benchmark_summary.log",
    conda:
        "../../envs/core.yaml"
    script:
        "../scripts/benchmark_summary.py"


rule benchmark_clips:
    input:
        scores="results/benchmark/{method}/{variant}/sub-{subject}",
        recon=score_input,
        ceiling=ceiling_input,
    output:
        figure=report(
            "results/report/benchmark/{method}_{variant}_sub-{subject}_clips.png",
            caption="../report/benchmark_conditions.rst",
            category="7. Benchmark",
            subcategory="{method} {variant}",
            labels={"subject": "{subject}", "figure": "ground truth | reconstruction | controls | ceiling"},
        ),
    params:
        seed=BENCHMARK["seed"],
        shuffle_gap=BENCHMARK["shuffle_gap"],
    log:
        "logs/benchmark/benchmark_clips/{method}_{variant}_sub-{subject}.log",
    conda:
        "../../envs/core.yaml"
    script:
        "../scripts/benchmark_clips.py"


# Cine-Benchmark's audio half (cinebrain.benchmark.audio): every audio reconstruction (a method's
# audio_variants(): results/methods/<method>/<variant>/sub-XX/recon/<clip>.wav) scored against its clip's audio.


rule benchmark_audio_score:
    input:
        recon=audio_score_input,
        test="results/dataset/sub-{subject}/test",
        networks=audio_benchmark_networks,
    output:
        scores=directory("results/audio_benchmark/{method}/{variant}/sub-{subject}"),
    params:
        settings={k: v for k, v in BENCHMARK.items() if k not in ("networks", "device", "audio")},
        dataset=PUBLISHED_DATASET,
        audio=BENCHMARK["audio"],
        device=BENCHMARK["device"],
    log:
        "logs/benchmark/benchmark_audio_score/{method}_{variant}_sub-{subject}.log",
    benchmark:
        "logs/benchmarks/benchmark_audio_score/{method}_{variant}_sub-{subject}.tsv"
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/benchmark_audio_score.py"


rule benchmark_audio_summary:
    input:
        scores=audio_score_dirs,
        published=PUBLISHED_RESULTS,
    output:
        summary=report(
            "results/audio_benchmark/summary.csv",
            caption="../report/benchmark_audio.rst",
            category="7. Benchmark",
            labels={"figure": "audio table"},
        ),
        table="results/audio_benchmark/summary.md",
        figure=report(
            "results/report/benchmark/audio.png",
            caption="../report/benchmark_audio.rst",
            category="7. Benchmark",
            labels={"figure": "Cine-Benchmark, audio"},
        ),
    params:
        settings={k: v for k, v in BENCHMARK.items() if k not in ("networks", "device", "audio")},
        dataset=PUBLISHED_DATASET,
    log:
        "logs/benchmark/benchmark_audio_summary.log",
    conda:
        "../../envs/core.yaml"
    script:
        "../scripts/benchmark_audio_summary.py"
