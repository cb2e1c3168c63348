"""Rule brainflix_report: the regression error of every Brain Netflix model on its test clips, as a report figure
(cinebrain.methods.brainflix.report)."""

import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

from cinebrain.methods.brainflix.report import plot_regression

print(plot_regression(snakemake.input.metrics, snakemake.output.figure).to_string())
