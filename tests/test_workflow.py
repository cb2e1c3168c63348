"""The Snakemake workflow run end-to-end on a tiny synthetic dataset, and its static checks."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from .conftest import REPO
from .tiny_workflow import SMK, TINY, smk


@pytest.fixture
def workdir(tiny_workdir):
    """The tiny workflow, run once per test session with local execution (conftest.tiny_workdir)."""
    return tiny_workdir


def read_video_shape(path) -> tuple:
    from cinebrain.stimuli import read_video

    return read_video(path).shape


@pytest.mark.workflow
def test_demo_workflow_outputs(workdir):
    inv = pd.read_parquet(workdir / "results/bids/inventory.parquet")
    assert len(inv) == 4 and set(inv["split"]) == {"train", "test"}
    for f in ["inventory.csv", "stimulus_frames.png", "run_traces.png"]:
        assert (workdir / "results/report" / f).stat().st_size > 0
    for log in ["synth/synth_generate.log", "bids/bids_inventory.log", "report/report_overview.log"]:
        assert (workdir / "logs" / log).exists()
    assert (workdir / "logs/benchmarks/synth_generate.tsv").exists()
    # the fMRI branch: every run's ROI series (default roi_sets [visual]) with its sidecar and QC figure
    for sub, run, n in zip(inv["subject"], inv["run"], inv["n_volumes"], strict=True):
        stem = workdir / f"results/fmri/sub-{sub}/sub-{sub}_task-movie_run-{run}_desc-roi"
        assert np.load(f"{stem}_bold.npy").shape == (n, 8405)
        side = json.loads(Path(f"{stem}_bold.json").read_text())
        assert side["FirstStimulusVolume"] == 7 and side["Normalisation"].startswith("z-score")
        assert (workdir / f"results/report/fmri/sub-{sub}_run-{run}_qc.png").stat().st_size > 0
        assert (workdir / f"logs/fmri/fmri_extract/sub-{sub}_run-{run}.log").exists()
    assert json.loads((workdir / "results/fmri/sub-01/sub-01_fmriprep.json").read_text())["runner"] == "precomputed"
    assert (workdir / "results/report/fmri/roi_sets.png").stat().st_size > 0
    # the EEG branch: clean EEG, QC and figures for every run
    for sub, run in zip(inv["subject"], inv["run"], strict=True):
        stem = workdir / f"results/eeg/sub-{sub}/sub-{sub}_task-movie_run-{run}"
        qc = json.loads(Path(f"{stem}_desc-qc.json").read_text())
        assert qc["truth"]["improvement_db"] > 25 and qc["bcg"]["heartbeats"] > 5
        assert Path(f"{stem}_desc-clean_eeg.fif").exists() and Path(f"{stem}_desc-components.tsv").exists()
        for kind in ["psd", "locked", "ica"]:
            assert (workdir / f"results/report/eeg/sub-{sub}_run-{run}_{kind}.png").stat().st_size > 0
    # clips, captions, features and the clip dataset of both subjects
    clips = pd.read_parquet(workdir / "results/stimuli/clips.parquet")
    assert len(clips) == 3 * 2 and set(clips["episode"]) == {"ep01", "ep02", "ep03"}  # 10-s films: 2 clips each
    for ep in ["ep01", "ep02", "ep03"]:
        caps = pd.read_parquet(workdir / f"results/captions/{ep}.parquet")
        assert set(caps["source"]) == {"truth"} and caps["text"].str.len().gt(10).all()
        for name in ["clip", "cogvideox_vae"]:
            assert (workdir / f"results/features/{name}/{ep}.safetensors").stat().st_size > 0
    for sub in ["01", "02"]:
        for split, n in [("train", 2), ("test", 2)]:
            ds = workdir / f"results/dataset/sub-{sub}/{split}"
            man = pd.read_parquet(ds / "manifest.parquet")
            assert len(man) == n and (man["split"] == split).all()
            assert np.load(ds / "fmri.npy", mmap_mode="r").shape == (n, 5, 8405)
            assert np.load(ds / "eeg.npy", mmap_mode="r").shape == (n, 64, 1000)  # 4 s at 250 Hz
            assert set(man["episode"]) == ({"ep03"} if split == "test" else {f"ep0{int(sub)}"})
        assert (workdir / f"results/report/data/sub-{sub}_windows.png").stat().st_size > 0
    assert (workdir / "results/report/stimuli/clips.png").stat().st_size > 0
    # the models of every enabled method (CineSync's encoder variants), trained through the launcher (profile
    # debug), in the methods' contract: results/methods/<method>/<variant>/sub-XX/, summarised for all methods
    from cinebrain.methods.contract import read_metrics

    summary = pd.read_csv(workdir / "results/methods/summary.csv")
    assert sorted(zip(summary["method"], summary["variant"], summary["subject"].astype(int), strict=True)) == sorted(
        [("cinesync", v, s) for v in ["cinesync", "cinesync_fmri", "cinesync_eeg"] for s in [1, 2]]
        + [("cineneuron", "cineneuron", s) for s in [1, 2]] + [("mindanimator", "mindanimator", 1), ("neurocine", "neurocine", 1)]
        + [("brainflix", v, s) for v in ["brainflix", "loso"] for s in [1, 2]]
        + [("cinesync_audio", v, s) for v in ["cinesync", "cinesync_eeg"] for s in [1, 2]])
    protocols = pd.read_csv(workdir / "results/methods/protocols.csv").set_index(["method", "protocol"])["status"]
    assert protocols["brainflix", "leave_one_subject_out"] == "scored"
    assert protocols["cinesync", "leave_one_subject_out"] == "not applicable: trains one model per subject"
    # Brain Netflix: stage 1 and 2 per pool (sub-XX, loso-XX), the contract per model variant, three variants'
    # reconstructions; the leave-one-subject-out pool of sub-01 never read sub-01's files (nor was given them)
    for sub, other in (("01", "02"), ("02", "01")):
        for pool in (f"sub-{sub}", f"loso-{sub}"):
            d = workdir / f"results/methods/brainflix/models/{pool}"
            assert {"stage1.safetensors", "stage1.json", "regress.json", "regress_ridge_z.safetensors",
                    "regress_mlp_b.safetensors"} <= {p.name for p in d.iterdir()}, pool  # fmt: skip
        read = json.loads((workdir / f"results/methods/brainflix/models/loso-{sub}/stage1.json").read_text())["read"]
        assert read and all(f"sub-{other}" in p and f"sub-{sub}" not in p for p in read), read
        m = read_metrics(workdir / f"results/methods/brainflix/loso/sub-{sub}/metrics.json")
        assert m["protocol"] == "leave_one_subject_out" and m["train_subjects"] == [other]
        assert set(m["regression_mse"]) == {"ridge_z", "ridge_b", "mlp_z", "mlp_b"}
        for v in ("brainflix", "loso"):
            r = pd.read_parquet(workdir / f"results/methods/brainflix/{v}/sub-{sub}/recon/reconstructions.parquet")
            assert len(r) == 2 and read_video_shape(workdir / r["video"].iloc[0]) == (33, 32, 48, 3)
            assert r["caption"].str.len().gt(0).all()
    assert (workdir / "results/report/brainflix/regression.png").stat().st_size > 0
    # CineNeuron: stage 1, the memory pool, stage 2 and the reconstructions in the contract
    for sub in ("01", "02"):
        d = workdir / f"results/methods/cineneuron/cineneuron/sub-{sub}"
        for f in ("model.safetensors", "metrics.json", "memory.safetensors", "decoder/pytorch_lora_weights.safetensors",
                  "decoder/decoder.json", "recon/reconstructions.parquet", "recon/no_brain.mp4"):
            assert (d / f).exists(), (sub, f)
        assert len(list((d / "recon").glob("*_clip-*.mp4"))) == 2
    cats = pd.read_csv(workdir / "results/methods/cineneuron/categories.csv", dtype={"subject": str})
    assert sorted(set(cats["subject"])) == ["01", "02"] and cats["accuracy"].between(0, 1).all()
    assert (workdir / "results/report/cineneuron/categories.png").stat().st_size > 0
    # Mind-Animator (sub-01 only): the decoders, the importance maps on the 91k grayordinates, and the full model's
    # and the no_motion ablation's reconstructions at the clips' frames and size
    d = workdir / "results/methods/mindanimator/mindanimator/sub-01"
    for f in ("model.safetensors", "metrics.json", "importance.dscalar.nii", "importance.csv"):
        assert (d / f).exists(), f
    import nibabel as nib

    assert nib.load(d / "importance.dscalar.nii").shape == (3, 91282)
    for v in ("mindanimator", "no_motion"):
        r = pd.read_parquet(workdir / f"results/methods/mindanimator/{v}/sub-01/recon/reconstructions.parquet")
        assert len(r) == 2 and read_video_shape(workdir / r["video"].iloc[0]) == (33, 32, 48, 3)
    assert not (workdir / "results/methods/mindanimator/mindanimator/sub-02").exists()
    assert (workdir / "results/report/mindanimator/importance.png").stat().st_size > 0
    # NeuroCine (sub-01 only): phase 1's encoder in the contract, phase 2's tuned parameters, the reconstructions
    d = workdir / "results/methods/neurocine/neurocine/sub-01"
    for f in ("model.safetensors", "metrics.json", "decoder/unet.safetensors", "decoder/encoder.safetensors",
              "decoder/decoder.json", "recon/reconstructions.parquet", "recon/no_brain.mp4"):
        assert (d / f).exists(), f
    r = pd.read_parquet(d / "recon/reconstructions.parquet")
    assert len(r) == 2 and read_video_shape(workdir / r["video"].iloc[0]) == (33, 32, 48, 3)
    assert (summary[summary["method"] != "brainflix"]["steps"] == 3).all() and (summary["chance_two_way"] == 0.5).all()
    assert (summary[summary["method"] == "brainflix"]["steps"] == 6).all()  # 3 MBM steps, 3 alignment steps
    for v in ["cinesync", "cinesync_fmri", "cinesync_eeg"]:
        d = workdir / f"results/methods/cinesync/{v}/sub-01"
        assert {"config.json", "metrics.json", "metrics.csv", "model.safetensors"} <= {p.name for p in d.iterdir()}
    m = read_metrics(workdir / "results/methods/cinesync/cinesync/sub-01/metrics.json")
    assert m["method"] == "cinesync" and m["train_clips"] == 2 and m["test_clips"] == 2
    assert m["chance"]["brain_to_video_top1"] == 0.5
    assert (workdir / "results/report/methods/retrieval.png").stat().st_size > 0
    # the dataset selects its ROI sets by itself: it carries the fMRI stage's column table
    assert (workdir / "results/dataset/sub-01/train/roi_columns.json").read_bytes() == (
        workdir / "results/fmri/roi_columns.json").read_bytes()
    # the decoders (cinesync, the default variant) and a reconstruction of every test clip at the clip's size
    from cinebrain.stimuli import read_video

    dec = pd.read_csv(workdir / "results/methods/cinesync/decoders.csv")
    assert list(dec["variant"]) == ["cinesync"] * 2 and (dec["adapter"] == "LinearAdapter").all()  # 226 x 8 -> 32 x 32
    for sub in ["01", "02"]:
        d = workdir / f"results/methods/cinesync/cinesync/sub-{sub}"
        assert {p.name for p in (d / "decoder").iterdir()} >= {"pytorch_lora_weights.safetensors", "brain.safetensors",
                                                               "decoder.json", "metrics.csv"}  # fmt: skip
        recon = pd.read_parquet(d / "recon/reconstructions.parquet")
        test = pd.read_parquet(workdir / f"results/dataset/sub-{sub}/test/manifest.parquet")
        assert list(recon["clip"]) == list(test["clip"])
        assert all((workdir / g).exists() and g.startswith("results/stimuli/") for g in recon["ground_truth"])
        for clip in recon["clip"]:
            assert read_video(d / f"recon/{clip}.mp4").shape == (33, 32, 48, 3)
        assert (workdir / f"results/report/cinesync/cinesync_sub-{sub}_recon.png").stat().st_size > 0
    assert (workdir / "results/report/cinesync/training.png").stat().st_size > 0
    # the benchmark: every test clip scored, a summary with chance levels and the scene-cut split
    for sub in ["01", "02"]:
        scores = pd.read_parquet(workdir / f"results/benchmark/cinesync/cinesync/sub-{sub}/metrics.parquet")
        test = pd.read_parquet(workdir / f"results/dataset/sub-{sub}/test/manifest.parquet")
        # the reconstruction and its two controls, each on every test clip
        for cond in ("reconstruction", "shuffled_brain", "no_brain"):
            m = scores[scores["condition"] == cond]
            assert list(m["clip"]) == list(test["clip"]) and m["ssim_rgb"].between(-1, 1).all() and (m["epe"] >= 0).all()
        assert (workdir / f"results/methods/cinesync/cinesync/sub-{sub}/recon/no_brain.mp4").exists()
        # the convention ledger: the configured metrics also as the papers' released code computes them (the tiny
        # workflow leaves out the 512 x 512 EPE, which tests/test_benchmark.py checks)
        assert {"hue_cosine_as_released", "ssim_gray_as_released"} <= set(scores.columns)
        assert "epe_as_released" not in scores
        # the ceilings: the generator given each caption, and the ground truth itself (every metric at its best)
        for variant in ("caption", "ground_truth"):
            c = pd.read_parquet(workdir / f"results/benchmark/ceiling/{variant}/sub-{sub}/metrics.parquet")
            assert list(c["clip"]) == list(test["clip"]) and set(c["condition"]) == {"reconstruction"}
        assert (c["ssim_rgb"] == 1).all() and (c["psnr"] == 100).all() and (c.filter(like="strict") == 1).all().all()
        assert (workdir / f"results/report/benchmark/cinesync_cinesync_sub-{sub}_clips.png").stat().st_size > 0
    bench = pd.read_csv(workdir / "results/benchmark/summary.csv")
    row = bench[(bench["metric"] == "video_50way_mindvideo") & (bench["clips"] == "all") & (bench["method"] == "cinesync")
                & (bench["condition"] == "reconstruction")]  # fmt: skip
    assert len(row) == 3 and np.allclose(row["chance"], 3 / 52) and set(bench["clips"]) == {"all", "with_cut", "without_cut"}
    assert list(row["subject"].astype(str)) == ["01", "02", "pooled"]
    assert set(bench[bench["method"] == "cinesync"]["condition"]) == {
        "reconstruction", "shuffled_brain", "no_brain", "reconstruction - shuffled_brain", "reconstruction - no_brain"}
    assert (workdir / "results/benchmark/summary.md").read_text().startswith("| method | variant | subject | condition |")
    assert set(bench["method"]) == {"cinesync", "cineneuron", "mindanimator", "neurocine", "brainflix", "ceiling"}
    assert set(bench[bench["method"] == "brainflix"]["variant"]) == {"brainflix", "loso"}
    assert set(bench[bench["method"] == "mindanimator"]["variant"]) == {"mindanimator", "no_motion"}
    assert set(bench[bench["method"] == "cineneuron"]["condition"]) == set(bench[bench["method"] == "cinesync"]["condition"])
    assert {"dynamic_degree", "motion_smoothness"} <= set(bench["metric"])
    # the ceilings are the same videos for both subjects, whose test clips are the same: sub-02's scores are
    # sub-01's, copied (its log shows no scoring)
    for v in ("caption", "ground_truth"):
        one, two = (workdir / f"results/benchmark/ceiling/{v}/sub-{s}/metrics.parquet" for s in ("01", "02"))
        assert one.read_bytes() == two.read_bytes()
        assert "scoring" not in (workdir / f"logs/benchmark/benchmark_score/ceiling_{v}_sub-02.log").read_text()
        assert "scoring" in (workdir / f"logs/benchmark/benchmark_score/ceiling_{v}_sub-01.log").read_text()
    for f in ["benchmark.png", "clips.png"]:
        assert (workdir / f"results/report/benchmark/{f}").stat().st_size > 0
    # CineSync for audio: transcript-aligned encoders in the contract, F5-TTS decoders, a 24-kHz waveform of every
    # test clip at its length (the dataset's audio paths resolve from the dataset's folder), the audio benchmark
    from cinebrain.stimuli import read_wav

    audio_rows = summary[summary["method"] == "cinesync_audio"]
    assert (audio_rows["retrieval_target"] == "text").all() and (summary[summary["method"] == "cinesync"]["retrieval_target"] == "video").all()
    dec = pd.read_csv(workdir / "results/methods/cinesync_audio/decoders.csv")
    assert sorted(dec["variant"]) == ["cinesync", "cinesync", "cinesync_eeg", "cinesync_eeg"]
    for sub in ("01", "02"):
        test = pd.read_parquet(workdir / f"results/dataset/sub-{sub}/test/manifest.parquet")
        gt, rate = read_wav(workdir / f"results/dataset/sub-{sub}/test" / test["audio_24000"].iloc[0])
        for v in ("cinesync", "cinesync_eeg"):
            d = workdir / f"results/methods/cinesync_audio/{v}/sub-{sub}"
            assert read_metrics(d / "metrics.json")["retrieval_target"] == "text"
            r = pd.read_parquet(d / "recon/reconstructions.parquet")
            assert list(r["clip"]) == list(test["clip"]) and (d / "recon/no_brain.wav").exists()
            audio, sr = read_wav(workdir / r["audio"].iloc[0])
            assert sr == rate == 24000 and len(audio) == len(gt)
            assert (workdir / f"results/report/cinesync_audio/{v}_sub-{sub}_mel.png").stat().st_size > 0
            assert "<audio controls" in (workdir / f"results/report/cinesync_audio/{v}_sub-{sub}_clips.html").read_text()
            scores = pd.read_parquet(workdir / f"results/audio_benchmark/cinesync_audio/{v}/sub-{sub}/metrics.parquet")
            assert set(scores["condition"]) == {"reconstruction", "shuffled_brain", "no_brain"} and len(scores) == 3 * len(test)
            assert scores["lsd"].ge(0).all() and scores["mel_ssim"].between(-1, 1).all()
    audio_bench = pd.read_csv(workdir / "results/audio_benchmark/summary.csv")
    assert {"wer", "cer", "fad", "lsd", "mcd", "mel_ssim", "mel_rmse", "peak_semitones"} == set(audio_bench["metric"])
    assert "reconstruction - shuffled_brain" in set(audio_bench["condition"])
    assert (workdir / "results/report/benchmark/audio.png").stat().st_size > 0
    assert (workdir / "results/report/cinesync_audio/training.png").stat().st_size > 0
    # nothing to redo
    res = smk(workdir, "-n", "--cores", "1")
    assert "Nothing to be done" in res.stdout + res.stderr


@pytest.mark.workflow
def test_edited_ica_table_is_reapplied(workdir, tmp_path):
    """Editing a components TSV reruns eeg_clean (and its figures) for that run only, with the user's choice."""
    from .conftest import copy_workdir

    workdir = copy_workdir(workdir, tmp_path / "wf")  # the session's run is shared: edit a copy
    stem = workdir / "results/eeg/sub-01/sub-01_task-movie_run-1"
    tsv = Path(f"{stem}_desc-components.tsv")
    table = pd.read_csv(tsv, sep="\t")
    table["status"] = "good"
    table.loc[table["component"] == 2, "status"] = "bad"
    table.loc[table["component"] == 2, "status_description"] = "manual: edited by a test"
    table.to_csv(tsv, sep="\t", index=False)
    dry = smk(workdir, "-n", "--cores", "1").stdout
    assert "eeg_clean" in dry and "eeg_preprocess" not in dry
    smk(workdir, f"{stem.relative_to(workdir)}_desc-qc.json", "--cores", "2")  # (not the stages downstream)
    assert json.loads(Path(f"{stem}_desc-qc.json").read_text())["ica"]["excluded"] == [2]


@pytest.mark.workflow
def test_html_report(workdir):
    smk(workdir, "--report", "results/report.html")
    html = (workdir / "results/report.html").read_text(errors="replace")
    assert "stimulus_frames.png" in html and "run_traces.png" in html and "inventory.csv" in html
    assert "roi_sets.png" in html and "sub-01_run-1_qc.png" in html
    assert "sub-01_run-1_psd.png" in html and "sub-01_run-1_ica.png" in html
    assert "cinesync_sub-01_recon.png" in html and "training.png" in html
    assert "benchmark.png" in html and "clips.png" in html and "summary.csv" in html


@pytest.mark.workflow
def test_rule_graph_and_dag_render(workdir, tmp_path):
    for flag in ["--rulegraph", "--dag"]:
        out = smk(workdir, flag).stdout
        dot_src = out[out.index("digraph") :]
        for rule in ["synth_generate", "bids_inventory", "report_overview", "fmriprep_run", "fmri_extract",
                     "fmri_normalise", "fmri_qc", "eeg_preprocess", "eeg_clean", "eeg_qc"]:
            assert rule in dot_src
        if shutil.which("dot"):
            svg = subprocess.run(["dot", "-Tsvg"], input=dot_src, capture_output=True, text=True, check=True).stdout
            assert "<svg" in svg


@pytest.mark.workflow
def test_bad_dataset_fails_with_clear_error_and_no_output(bids_copy, tmp_path):
    """An external BIDS dataset with a problem: the rule fails, its log names the problem, no inventory.
    (The session's synthetic dataset, hard-linked: see conftest.bids_copy.)"""
    (bids_copy / "task-movie_bold.json").unlink()
    cfg = {**TINY, "synth": {"enabled": False}, "dataset": {**TINY["dataset"], "bids_root": str(bids_copy)}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    res = smk(tmp_path, "--cores", "1", check=False)
    assert res.returncode != 0
    log = (tmp_path / "logs/bids/bids_inventory.log").read_text()
    assert "no RepetitionTime" in log and "fix:" in log
    assert not (tmp_path / "results/bids/inventory.parquet").exists()


@pytest.mark.workflow
def test_cross_key_check_stops_snakemake_before_any_job(tmp_path):
    """Snakemake calls cinebrain.config.check_config at start-up (its cases: tests/test_config.py)."""
    cfg = {**TINY, "stimuli": {**TINY["stimuli"], "clip_seconds": 4.2, "frames": 35}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    res = smk(tmp_path, "-n", "--cores", "1", check=False)
    assert res.returncode != 0
    assert "stimuli.clip_seconds is 4.2 s, which is 5.25 TRs of 0.8 s" in res.stdout + res.stderr
    assert not (tmp_path / "results").exists()


@pytest.mark.workflow
def test_unknown_roi_set_and_missing_model_folder_stop_before_any_job(workdir, tmp_path):
    """A set added to fmri.roi_sets after a run, and a model folder that does not exist: the run stops at
    start-up naming both (not "Nothing to be done" with the old columns, not a hub error hours later)."""
    cfg = yaml.safe_load((workdir / "config.yaml").read_text())
    fmri = cfg.setdefault("fmri", {})
    fmri["roi_sets"] = [*fmri.get("roi_sets", ["visual"]), "visal"]
    cfg["benchmark"]["networks"]["dino"] = str(tmp_path / "models/dino")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    res = smk(tmp_path, "-n", "--cores", "1", check=False)
    out = res.stdout + res.stderr
    assert res.returncode != 0 and "Nothing to be done" not in out
    assert "fmri.roi_sets: 'visal' has no file" in out and "available: auditory" in out
    assert f"benchmark.networks.dino: '{tmp_path / 'models/dino'}' is no folder (it does not exist)" in out
    assert not (tmp_path / "results").exists()


@pytest.mark.workflow
def test_action_features_join_the_dataset_when_configured(workdir, tmp_path):
    """features.action.model and features.wan_vae.model set (CineNeuron's X-CLIP and Wan VAE, as the tiny
    workflow does): every episode gets their features and the datasets carry them; without them (a dry run
    with both null) the datasets are rebuilt without, and no features_action job is planned."""
    for ep in ("ep01", "ep02", "ep03"):
        assert (workdir / f"results/features/xclip/{ep}.safetensors").exists()
        assert (workdir / f"results/features/wan_vae/{ep}.safetensors").exists()
    man = pd.read_parquet(workdir / "results/dataset/sub-01/train/manifest.parquet")
    assert {"action_file", "action_row", "wan_latents_file", "wan_latents_row"} <= set(man.columns)
    cfg = yaml.safe_load((workdir / "config.yaml").read_text())
    cfg["features"]["action"] = {"model": None}
    cfg["features"]["wan_vae"] = {"model": None}
    cfg["methods"].pop("cineneuron")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    cmd = [SMK, "-s", str(REPO / "Snakefile"), "-n", "--cores", "1", "--directory", str(workdir), "--configfile",
           str(tmp_path / "config.yaml")]  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=workdir)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    assert "data_build" in out and "features_action" not in out and "cineneuron_" not in out


@pytest.mark.workflow
def test_a_method_runs_for_the_subjects_it_lists(workdir, tmp_path):
    """methods.cineneuron.subjects: ['01'] plans CineNeuron's jobs for sub-01 only while CineSync and the
    ceilings keep both subjects; a subject the dataset lacks stops Snakemake before any job with the fix."""
    cfg = yaml.safe_load((workdir / "config.yaml").read_text())
    cfg["methods"]["cineneuron"]["subjects"] = ["01"]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    # every job downstream of the training and the ceilings, planned again (--forceall would rerun the
    # inventory checkpoint, behind which a dry run cannot see)
    cmd = [SMK, "-s", str(REPO / "Snakefile"), "-n", "--cores", "1", "--directory", str(workdir), "--configfile",
           str(tmp_path / "config.yaml"), "-R", "cinesync_encoder", "cineneuron_brain", "benchmark_ceiling",
           "benchmark_ground_truth"]  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=workdir)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    subjects = {}
    for rule, wildcards in re.findall(r"rule (\w+):\n(?:    .*\n)*?    wildcards: (.*)", out):
        subjects.setdefault(rule, set()).update(re.findall(r"subject=(\w+)", wildcards))
    assert subjects["cineneuron_brain"] == subjects["cineneuron_reconstruct"] == {"01"}
    assert subjects["cinesync_encoder"] == subjects["cinesync_reconstruct"] == {"01", "02"}
    scored = set(re.findall(r"wildcards: method=(\w+), variant=\w+, subject=(\w+)", out))
    assert ("cineneuron", "01") in scored and ("cineneuron", "02") not in scored and ("ceiling", "02") in scored
    cfg["methods"]["cineneuron"]["subjects"] = ["07"]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=workdir)
    assert res.returncode != 0
    assert "methods.cineneuron.subjects lists 07, which the dataset lacks" in res.stdout + res.stderr


@pytest.mark.workflow
def test_lint_is_clean():
    res = subprocess.run([SMK, "--lint"], capture_output=True, text=True, cwd=REPO)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Congratulations" in res.stdout + res.stderr


@pytest.mark.workflow
def test_slurm_profile_parses_and_its_placeholders_stop_before_any_job(tmp_path):
    """profiles/slurm as shipped: its CHANGE_ME account stops Snakemake with the fix; with an account and
    a partition (a workflow profile over it, as a user's edit would be) it plans the whole workflow."""
    base = [SMK, "--profile", str(REPO / "profiles/slurm"), "-n", "-s", str(REPO / "Snakefile"), "--directory",
            str(tmp_path), "--configfile", str(REPO / "config/config.yaml")]  # fmt: skip
    res = subprocess.run(base, capture_output=True, text=True, cwd=REPO)
    assert res.returncode != 0
    assert "default-resources slurm_account is the placeholder CHANGE_ME_ACCOUNT; fix: set your cluster's" in res.stdout + res.stderr
    profile = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())
    mine = tmp_path / "mine"
    mine.mkdir()
    defaults = {**profile["default-resources"], "slurm_account": "lab", "slurm_partition": "cpu"}
    (mine / "config.yaml").write_text(yaml.safe_dump({"default-resources": defaults}))
    res = subprocess.run([*base, "--workflow-profile", str(mine)], capture_output=True, text=True, cwd=REPO)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert "Job stats" in res.stdout and "synth_generate" in res.stdout


@pytest.mark.workflow
def test_same_seed_gives_the_same_metrics(workdir, tmp_path):
    """Determinism on the CPU: the CineSync encoder of one variant and subject trained again, from the same
    dataset with the same seed, gives the same test metrics and the same weights."""
    from safetensors.numpy import load_file

    from .conftest import copy_workdir

    wd = copy_workdir(workdir, tmp_path / "wf")
    metrics = sorted(wd.glob("results/methods/cinesync/*/sub-01/metrics.json"))[0]
    folder = metrics.parent
    before = json.loads(metrics.read_text())
    weights = load_file(folder / "model.safetensors")
    smk(wd, "--cores", "2", "--forcerun", "cinesync_encoder", str(metrics.relative_to(wd)))
    after = json.loads(metrics.read_text())
    assert after == before
    again = load_file(folder / "model.safetensors")
    assert all(np.array_equal(weights[k], again[k]) for k in weights)


@pytest.mark.workflow
def test_copied_checkout_with_its_results_is_up_to_date(tmp_path):
    """A checkout copied (or moved) with its results reruns nothing: no input or param holds an absolute path."""
    a = tmp_path / "a"
    a.mkdir()
    for part in ("Snakefile", "src", "workflow", "resources", "config", "profiles", "envs"):
        copy = shutil.copytree if (REPO / part).is_dir() else shutil.copy2
        copy(REPO / part, a / part, **({"ignore": shutil.ignore_patterns("__pycache__")} if (REPO / part).is_dir() else {}))  # fmt: skip
    (a / "run.yaml").write_text(yaml.safe_dump(TINY))
    targets = ["results/fmri/roi_columns.json", "results/report/fmri/roi_sets.png",
               f"results/fmri/sub-01/sub-01_task-{TINY['dataset']['task']}_run-1_desc-roi_bold.npy"]  # fmt: skip

    def run(root, *args):
        cmd = [SMK, "-s", str(root / "Snakefile"), *targets, *args, "--directory", str(root), "--configfile",
               str(root / "run.yaml")]  # fmt: skip
        res = subprocess.run(cmd, capture_output=True, text=True, cwd=root)
        assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
        return res.stdout + res.stderr

    run(a, "--cores", "2")
    b = tmp_path / "elsewhere" / "b"
    shutil.copytree(a, b, symlinks=True)  # file times and Snakemake's metadata kept
    out = run(b, "-n", "--cores", "1")
    assert "Nothing to be done" in out, out[-3000:]


@pytest.mark.workflow
def test_snakemake_killed_during_training_resumes_to_the_uninterrupted_result(workdir, tmp_path):
    """Snakemake stopped while a CineSync encoder trains through submitit (launch profile `local`): SIGTERM (Snakemake
    lets running jobs finish), then SIGKILL to its whole process group 2 s later, as when its terminal or tmux session
    is killed. Nothing trains on (a task that outlives its launcher stops at the missing heartbeat), and the rerun
    resumes from the checkpoint to the metrics, weights and whole curve of an uninterrupted run."""
    import os
    import signal
    import time

    from safetensors.numpy import load_file

    from .conftest import copy_workdir

    cfg = yaml.safe_load((workdir / "config.yaml").read_text())
    enc = cfg["methods"]["cinesync"]["encoder"]
    enc["train"] = {**enc["train"], "steps": 3000, "checkpoint_every": 50}
    profile = tmp_path / "local-watched.yaml"
    profile.write_text(yaml.safe_dump({"executor": "local", "timeout_min": 30, "launcher_timeout_s": 3}))
    enc["launch"] = str(profile)
    target = "results/methods/cinesync/cinesync/sub-01/metrics.json"
    runs = {}
    for name in ("uninterrupted", "killed"):
        runs[name] = copy_workdir(workdir, tmp_path / name)
        (runs[name] / "config.yaml").write_text(yaml.safe_dump(cfg))
    smk(runs["uninterrupted"], "--cores", "2", target)

    wd = runs["killed"]
    folder = wd / "results/methods/cinesync/cinesync/sub-01"
    cmd = [SMK, "-s", str(REPO / "Snakefile"), target, "--cores", "2", "--directory", str(wd), "--configfile",
           str(wd / "config.yaml")]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=wd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    t0 = time.time()
    while not (folder / "checkpoint.pt").exists():
        assert proc.poll() is None and time.time() - t0 < 300, "the training did not reach its first checkpoint"
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    time.sleep(2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    # nothing trains on: the curve stops growing within the launcher timeout (3 s) and the checkpoint stays
    curve = folder / "metrics.csv"
    time.sleep(8)
    size = curve.stat().st_size
    time.sleep(3)
    assert curve.stat().st_size == size and len(curve.read_text().splitlines()) - 1 < 3000
    smk(wd, "--unlock")  # a killed Snakemake leaves its lock (its own message says so)
    res = smk(wd, "--cores", "2", target)
    logs = "".join(p.read_text(errors="ignore") for p in wd.glob("logs/cinesync/submitit/encoder_cinesync_sub-01/*_log.out"))
    assert "training: resumed from" in logs, (res.stdout + res.stderr)[-2000:]
    ref = runs["uninterrupted"] / target
    assert json.loads((wd / target).read_text()) == json.loads(ref.read_text())
    a, b = load_file(folder / "model.safetensors"), load_file(ref.parent / "model.safetensors")
    assert all(np.array_equal(a[k], b[k]) for k in a)
    steps = pd.read_csv(folder / "metrics.csv")["step"].tolist()
    assert steps == list(range(1, 3001))  # the whole curve, though Snakemake deleted it with the failed job

