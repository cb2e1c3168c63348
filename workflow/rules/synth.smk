# Stage 0 (demo only): write the synthetic EEG-fMRI film dataset (cinebrain.synth).

if SYNTH["enabled"]:

    rule synth_generate:
        output:
            bids=directory(os.path.join(SYNTH["out"], "bids")),
            truth=directory(os.path.join(SYNTH["out"], "truth")),
        params:
            out=lambda wildcards, output: os.path.dirname(output.bids),
            synth={k: v for k, v in SYNTH.items() if k not in ("enabled", "out")},
        log:
            "logs/synth/synth_generate.log",
        benchmark:
            "logs/benchmarks/synth_generate.tsv"
        conda:
            "../../envs/core.yaml"
        script:
            "../scripts/synth_generate.py"
