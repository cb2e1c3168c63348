#!/usr/bin/env bash
# Run by Snakemake after it creates the torch environment (envs/torch.yaml): the audio decoder's packages
# without their dependencies, as requirements-nodeps.txt lists them (tests/test_packaging.py keeps the two equal).
set -euo pipefail
python -m pip install --no-deps f5-tts==1.1.22 vocos==0.1.0
