# The models of every enabled method (cinebrain.methods), read through the output contract: one table of
# retrieval against chance for all methods, variants and subjects, and its figure. Each method's own
# rules are in workflow/rules/<method>.smk, included by the Snakefile when the method is enabled.


rule methods_summary:
    input:
        metrics=lambda wildcards: [f"{d}/metrics.json" for d in model_dirs()],
    output:
        summary="results/methods/summary.csv",
        protocols="results/methods/protocols.csv",  # per method: within-subject, multi-subject, leave-one-subject-out
        figure=report(
            "results/report/methods/retrieval.png",
            caption="../report/methods_retrieval.rst",
            category="5. Models",
            labels={"figure": "retrieval and training curves"},
        ),
    log:
        "logs/methods/methods_summary.log",
    conda:
        "../../envs/core.yaml"
    script:
        "../scripts/methods_summary.py"
