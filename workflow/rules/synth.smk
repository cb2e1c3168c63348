# Stage 0 (demo only): write the synthetic film dataset (cinebrain.synth): EEG-fMRI in BIDS, or (synth.shape)
# the cc2017 release's fMRI-only layout with repeats, or a beta vector per video.

if SYNTH["enabled"]:

    rule synth_generate:
        input:
            # the ROI sets whose areas carry the simulated visual and auditory signal
            rois=[os.path.join(ROI_DIR, f"{kind}.yaml") for kind in ("visual", "auditory")],
        output:
            bids=directory(os.path.join(SYNTH["out"], SYNTH["shape"])),
            truth=directory(os.path.join(SYNTH["out"], "truth")),
        params:
            out=lambda wildcards, output: os.path.dirname(output.bids),
            synth={k: v for k, v in SYNTH.items() if k not in ("enabled", "out")},
            roi_dir=lambda wildcards, input: os.path.dirname(input.rois[0]),
        log:
            "logs/synth/synth_generate.log",
        benchmark:
            "logs/benchmarks/synth_generate.tsv"
        conda:
            "../../envs/core.yaml"
        script:
            "../scripts/synth_generate.py"
