# cinebrain — the two commands a newcomer runs are `make demo` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SMK := $(BIN)/snakemake
# Debian packages the workflow uses: graphviz renders the rule graph (snakemake --rulegraph | dot).
APT_PACKAGES := graphviz

.PHONY: help demo test test-fast bench bench-gpu lint profiles rulegraph world world-audio sysdeps clean

help:
	@echo "make demo      install into .venv and run the whole workflow on the synthetic dataset"
	@echo "make test      install into .venv and run the test suite"
	@echo "make test-fast the unit tests only: no Snakemake runs, no SLURM (for iteration)"
	@echo "make bench     print performance figures"
	@echo "make bench-gpu every method's paper-size training steps and reconstructions on a GPU (time, memory)"
	@echo "make lint      snakemake --lint and ruff"
	@echo "make profiles  install the Snakemake profiles into ~/.config/snakemake (snakemake --profile slurm)"
	@echo "make rulegraph render docs/rulegraph.svg"
	@echo "make world     retrain the demo's shipped synthetic world (resources/world; about 27 min on 2 cores)"
	@echo "make world-audio retrain its audio models (resources/world/audio; about 4 min on 2 cores)"

$(STAMP): pyproject.toml requirements-nodeps.txt
	$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "cinebrain needs Python 3.11"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# One resolution of everything pyproject.toml pins, torch + torchvision + torchaudio of one release among
	# them (PyPI's standard builds; an exact pin fails rather than falling back to another build).
	$(BIN)/pip install --quiet --progress-bar off -e '.[test]'
	# f5-tts and vocos without their dependencies (f5-tts names gradio, wandb, bitsandbytes, datasets, which
	# the decoder never imports); what their model code needs is pinned in pyproject.toml.
	$(BIN)/pip install --quiet --progress-bar off --no-deps -r requirements-nodeps.txt
	$(BIN)/python -m cinebrain.stack
	touch $(STAMP)

sysdeps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian packages:$$missing"; \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; } \
	      || echo "warning: could not install$$missing; the rule graph picture will be skipped"; \
	  else echo "please install:$$missing (apt-get install$$missing)"; fi; \
	fi

# The synthetic world's models (tiny CLIP text encoder, CogVideoX VAE + caption-to-video transformer, the
# benchmark's judges), trained with config/config.yaml's models.tiny settings. The demo copies them while
# their key (the code that makes them + those settings) matches, as a real run downloads its weights; after a
# change to that code or those settings, run this and commit resources/world (a test says when it is stale).
world: $(STAMP)
	rm -rf resources/world.new
	$(BIN)/cinebrain world resources/world.new --config config/config.yaml
	# the audio models (make world-audio) have their own key: kept
	if [ -d resources/world/audio ]; then mv resources/world/audio resources/world/world_audio.json resources/world.new/; fi
	rm -rf resources/world && mv resources/world.new resources/world

# The synthetic world's audio models (tiny Vocos and F5-TTS on the synthetic soundtrack; about 4 min on 2
# cores), shipped beside the video world with their own key (resources/world/world_audio.json).
world-audio: $(STAMP)
	rm -rf resources/world/audio resources/world/world_audio.json
	$(BIN)/cinebrain world resources/world --audio --config config/config.yaml

demo: $(STAMP) sysdeps
	@set -e; start=$$(date +%s); \
	$(SMK) --profile profiles/default; \
	$(SMK) --profile profiles/default --report results/report.html; \
	if command -v dot >/dev/null; then $(SMK) --rulegraph 2>/dev/null | dot -Tsvg > results/rulegraph.svg; fi; \
	$(BIN)/python -c 'import pandas as pd; print(pd.read_parquet("results/bids/inventory.parquet").drop(columns=["eeg","events"]).to_string())'; \
	echo; $(BIN)/python -c 'import pandas as pd; d = pd.read_csv("results/methods/summary.csv"); print("models: brain -> video retrieval on the test clips (chance in brackets; results/methods/summary.csv):"); print(pd.DataFrame({"method": d.method, "variant": d.variant, "subject": d.subject, "top-1": [f"{a:.3f} ({c:.3f})" for a, c in zip(d.brain_to_video_top1, d.chance_brain_to_video_top1)], "top-5": [f"{a:.3f} ({c:.3f})" for a, c in zip(d.brain_to_video_top5, d.chance_brain_to_video_top5)], "2-way": [f"{a:.3f} (0.5)" for a in d.two_way]}).to_string(index=False))'; \
	echo; $(BIN)/python -c 'import pandas as pd, glob; d = pd.read_csv("results/methods/cinesync/decoders.csv"); d["reconstructions"] = [len(glob.glob(f"results/methods/cinesync/{v}/sub-{s:02d}/recon/*.mp4")) for v, s in zip(d.variant, d.subject)]; print("CineSync decoders (CogVideoX + LoRA on the brain feature) and their test-clip reconstructions (results/methods/cinesync/<variant>/sub-XX/recon/):"); print(d[["variant", "subject", "train_clips", "steps", "trainable_parameters", "final_loss", "reconstructions"]].to_string(index=False))'; \
	echo; echo "Cine-Benchmark, reconstructions and ceilings (results/benchmark/summary.md; mean [95% CI] (chance); tiny models of a synthetic world):"; \
	$(BIN)/python -c 'import pandas as pd; s = pd.read_csv("results/benchmark/summary.csv", dtype={"subject": str}); s = s[(s.clips == "all") & (s.condition == "reconstruction") & (s.subject != "pooled")]; s["value"] = [f"{m:.3f} [{a:.3f}, {b:.3f}]" + ("" if c != c else f" ({c:.3f})") for m, a, b, c in zip(s["mean"], s.ci_low, s.ci_high, s.chance)]; print(s.pivot(index="metric", columns=["method", "variant", "subject"], values="value").to_string())'; \
	echo; echo "Each decoder against its controls (pooled over subjects; paired differences by clip; beats_*: the 95% interval excludes 0):"; \
	$(BIN)/cinebrain controls results/benchmark/summary.csv; \
	echo; echo "CineSync for audio (F5-TTS + LoRA, Vocos) against its controls (results/audio_benchmark/summary.md; pooled; peak_semitones: distance of the dominant frequencies; the demo's Whisper and EnCodec are tiny random models):"; \
	$(BIN)/cinebrain controls results/audio_benchmark/summary.csv --metrics peak_semitones mcd lsd mel_ssim mel_rmse; \
	echo; echo "demo outputs: results/report.html (open it in a browser), results/bids/inventory.parquet,"; \
	echo "              results/synth/ (the synthetic dataset: $$(du -sh results/synth | cut -f1)), logs/"; \
	echo "demo finished in $$(( $$(date +%s) - start )) s (after installation)"

# Two pytest-xdist workers, one test file at a time each (files share session fixtures): the SLURM tests
# mostly wait on the scheduler while the other worker uses the cores.
TEST_WORKERS ?= 2
test: $(STAMP) sysdeps
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=15

# The unit tests: no Snakemake run, no SLURM, no slow end-to-end training (markers workflow, slurm,
# slow), two workers, one test at a time each.
test-fast: $(STAMP)
	$(BIN)/pytest -q -n $(TEST_WORKERS) -m "not workflow and not slurm and not slow" --durations=10

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_synth.py
	$(BIN)/python benchmarks/bench_fmri_extract.py
	$(BIN)/python benchmarks/bench_eeg.py
	$(BIN)/python benchmarks/bench_eeg_methods.py
	$(BIN)/python benchmarks/bench_stimuli.py
	$(BIN)/python benchmarks/bench_data.py
	$(BIN)/python benchmarks/bench_encoder.py
	$(BIN)/python benchmarks/bench_decoder.py
	$(BIN)/python benchmarks/bench_reconstruct.py
	$(BIN)/python benchmarks/bench_cineneuron.py
	$(BIN)/python benchmarks/bench_mindanimator.py
	$(BIN)/python benchmarks/bench_neurocine.py
	$(BIN)/python benchmarks/bench_brainflix.py
	$(BIN)/python benchmarks/bench_audio.py
	$(BIN)/python benchmarks/bench_benchmark.py

bench-gpu: $(STAMP)
	$(BIN)/python benchmarks/bench_encoder.py --paper
	$(BIN)/python benchmarks/bench_decoder.py --paper
	$(BIN)/python benchmarks/bench_decoder.py --paper --compile
	$(BIN)/python benchmarks/bench_reconstruct.py --paper
	$(BIN)/python benchmarks/bench_cineneuron.py --paper
	$(BIN)/python benchmarks/bench_mindanimator.py --paper
	$(BIN)/python benchmarks/bench_neurocine.py --paper
	$(BIN)/python benchmarks/bench_brainflix.py --paper
	$(BIN)/python benchmarks/bench_audio.py --paper

lint: $(STAMP)
	$(SMK) --lint
	$(BIN)/ruff check src tests workflow/scripts benchmarks

profiles:
	mkdir -p $${XDG_CONFIG_HOME:-$$HOME/.config}/snakemake/slurm
	cp profiles/slurm/config.yaml $${XDG_CONFIG_HOME:-$$HOME/.config}/snakemake/slurm/config.yaml
	@echo "installed: $${XDG_CONFIG_HOME:-$$HOME/.config}/snakemake/slurm -> snakemake --profile slurm"

rulegraph: $(STAMP) sysdeps
	$(SMK) --rulegraph 2>/dev/null | dot -Tsvg > docs/rulegraph.svg

clean:
	rm -rf results logs .snakemake
