"""fMRIPrep: exact command lines per runner, the derivatives check, and the rule run through Snakemake
with a test double of the container program on PATH."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from cinebrain.bids import InventoryOptions, build_inventory
from cinebrain.fmri.fmriprep import (
    FmriprepError,
    FmriprepSettings,
    build_command,
    check_derivatives,
    derivative_paths,
)
from cinebrain.fmri.grayordinates import write_dtseries

from .fmriprep_double import write_script
from .test_workflow import TINY, smk


def _settings(runner, **kw):
    return FmriprepSettings(runner=runner, image="nipreps/fmriprep:25.2.7" if runner == "docker" else "/c/fp.sif",
                            fs_license="/opt/fs/license.txt", **kw)  # fmt: skip


def test_docker_command_line():
    cmd = build_command(_settings("docker", extra_args=["--dummy-scans", "2"]), bids_dir="/d/bids",
                        output_dir="/d/deriv/fmriprep", subject="01", work_dir="/scratch/w/sub-01", threads=16,
                        mem_mb=64000)  # fmt: skip
    assert cmd == [
        "fmriprep-docker", "--image", "nipreps/fmriprep:25.2.7", "--no-tty",
        "/d/bids", "/d/deriv/fmriprep", "participant", "--participant-label", "01",
        "--output-spaces", "MNI152NLin6Asym:res-2", "T1w", "--cifti-output", "91k",
        "--fs-license-file", "/opt/fs/license.txt", "--nthreads", "16", "--omp-nthreads", "8",
        "--mem-mb", "64000", "-w", "/scratch/w/sub-01", "--notrack", "--dummy-scans", "2",
    ]  # fmt: skip


def test_apptainer_command_line():
    cmd = build_command(_settings("apptainer"), bids_dir="/d/bids", output_dir="/d/out", subject="07",
                        work_dir="/tmp/w", threads=4, mem_mb=16000)  # fmt: skip
    assert cmd == [
        "apptainer", "run", "--cleanenv",
        "--bind", "/d/bids:/d/bids:ro", "--bind", "/d/out", "--bind", "/tmp/w",
        "--bind", "/opt/fs/license.txt:/opt/fs/license.txt:ro", "/c/fp.sif",
        "/d/bids", "/d/out", "participant", "--participant-label", "07",
        "--output-spaces", "MNI152NLin6Asym:res-2", "T1w", "--cifti-output", "91k",
        "--fs-license-file", "/opt/fs/license.txt", "--nthreads", "4", "--omp-nthreads", "4",
        "--mem-mb", "16000", "-w", "/tmp/w", "--notrack",
    ]  # fmt: skip


def test_relative_paths_become_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cmd = build_command(_settings("docker"), bids_dir="bids", output_dir="out", subject="01", work_dir="w",
                        threads=1, mem_mb=2000)  # fmt: skip
    assert str(tmp_path / "bids") in cmd and str(tmp_path / "out") in cmd and str(tmp_path / "w") in cmd


def test_settings_errors():
    with pytest.raises(ValueError, match="MNI152NLin6Asym:res-2"):
        FmriprepSettings(runner="docker", output_spaces=["T1w"])
    with pytest.raises(ValueError, match="runner"):
        FmriprepSettings(runner="singularity")
    with pytest.raises(ValueError, match="fs_license is not set"):
        build_command(FmriprepSettings(runner="docker"), bids_dir="b", output_dir="o", subject="01", work_dir="w",
                      threads=1, mem_mb=1000)  # fmt: skip
    with pytest.raises(ValueError, match="nothing to run"):
        build_command(FmriprepSettings(), bids_dir="b", output_dir="o", subject="01", work_dir="w", threads=1,
                      mem_mb=1000)  # fmt: skip


def test_derivative_paths():
    p = derivative_paths("sub-01/func/sub-01_task-movie_run-2_bold.nii.gz", "/d/fmriprep")
    assert p["dtseries"] == Path("/d/fmriprep/sub-01/func/sub-01_task-movie_run-2_space-fsLR_den-91k_bold.dtseries.nii")
    assert p["confounds"] == Path("/d/fmriprep/sub-01/func/sub-01_task-movie_run-2_desc-confounds_timeseries.tsv")


# ------------------------------------------------------------------------------ precomputed check


@pytest.fixture(scope="module")
def runs_01(synth):
    inv = build_inventory(synth / "bids", InventoryOptions(tr=0.8, task="movie"))
    return inv[inv["subject"] == "01"].to_dict("records")


def _deriv_copy(synth, tmp_path) -> Path:
    dst = tmp_path / "fmriprep"
    shutil.copytree(synth / "bids/derivatives/fmriprep", dst, copy_function=os.link)
    return dst


def test_check_precomputed_ok(synth, runs_01):
    records = check_derivatives("01", runs_01, synth / "bids/derivatives/fmriprep")
    assert [r["run"] for r in records] == [r["run"] for r in runs_01]
    assert all(r["n_volumes"] == 57 and r["TR"] == 0.8 for r in records)


def test_check_lists_every_problem(synth, runs_01, tmp_path):
    deriv = _deriv_copy(synth, tmp_path)
    p1 = derivative_paths(runs_01[0]["bold"], deriv)
    p2 = derivative_paths(runs_01[1]["bold"], deriv)
    p1["dtseries"].unlink()  # missing
    p2["dtseries"].unlink()  # wrong TR and volume count
    write_dtseries(p2["dtseries"], np.ones((10, 91282), np.float32), tr=2.0)
    p1["confounds"].unlink()  # missing confounds
    p2["confounds"].unlink()  # empty confounds
    p2["confounds"].write_text("")
    with pytest.raises(FmriprepError) as err:
        check_derivatives("01", runs_01, deriv)
    msg = str(err.value)
    assert "sub-01: 5 problem(s)" in msg
    assert f"{p1['dtseries']}: missing" in msg
    assert f"{p2['dtseries']}: TR is 2 s but the raw BOLD" in msg
    assert f"{p2['dtseries']}: 10 volumes but the raw BOLD" in msg and "has 57" in msg
    assert f"{p1['confounds']}: missing" in msg
    assert f"{p2['confounds']}: cannot be read as a table" in msg
    assert msg.count("fix:") == 5


def test_check_wrong_layout(synth, runs_01, tmp_path):
    import nibabel as nib

    deriv = _deriv_copy(synth, tmp_path)
    p = derivative_paths(runs_01[0]["bold"], deriv)["dtseries"]
    img = nib.load(str(p))
    series, bm = img.header.get_axis(0), img.header.get_axis(1)
    cortex = bm[: 29696 + 29716]  # a cortex-only file (no subcortical structures)
    p.unlink()
    nib.cifti2.Cifti2Image(np.ones((57, len(cortex)), np.float32), header=(series, cortex)).to_filename(str(p))
    with pytest.raises(FmriprepError, match=r"not the 91k-grayordinate fsLR-32k layout \(59412 grayordinates"):
        check_derivatives("01", runs_01, deriv)


# ------------------------------------------------------------------------- through Snakemake, with a double


def _config(wd: Path, runner: str) -> dict:
    cfg = json.loads(json.dumps(TINY))
    cfg["dataset"]["fmriprep_dir"] = "results/fmriprep"
    license_file = wd / "license.txt"
    license_file.write_text("test licence\n")
    cfg["fmriprep"] = {"runner": runner, "image": "nipreps/fmriprep:25.2.7" if runner == "docker" else "img.sif",
                       "fs_license": str(license_file), "extra_args": ["--skip-bids-validation"],
                       "work_dir": None}  # fmt: skip
    # z-scored over the subject's runs, and motion regressed (the double writes the 6 motion parameters)
    cfg["fmri"] = {"roi_sets": ["visual", "hippocampus"], "normalise": "subject",
                   "confounds": {"enabled": True, "strategy": ["motion"], "motion": "basic"}}  # fmt: skip
    return cfg


@pytest.mark.workflow
@pytest.mark.parametrize("runner, program", [("docker", "fmriprep-docker"), ("apptainer", "apptainer")])
def test_rule_runs_container_double(tmp_path, runner, program):
    wd = tmp_path / "wf"
    wd.mkdir()
    (wd / "config.yaml").write_text(yaml.safe_dump(_config(wd, runner)))
    bindir = tmp_path / "bin"
    write_script(bindir, program)
    env_path = f"{bindir}{os.pathsep}{os.environ['PATH']}"
    scratch = tmp_path / "scratch"
    target = "results/fmri/sub-01/sub-01_task-movie_run-1_desc-roi_bold.npy"
    res = smk(wd, target, "--cores", "2", "--set-resources", "fmriprep_run:mem_mb=6000",
              "--default-resources", f"tmpdir='{scratch}'", env={"PATH": env_path})  # fmt: skip
    calls = [json.loads(line) for line in (wd / "results/fmriprep/.double_calls.jsonl").read_text().splitlines()]
    assert len(calls) == 1, res.stdout
    argv = calls[0]["argv"]
    # the rule's threads (2 cores here), its memory resource, the job's tmpdir as scratch, the licence
    assert argv[argv.index("--nthreads") + 1] == "2" and argv[argv.index("--omp-nthreads") + 1] == "2"
    assert argv[argv.index("--mem-mb") + 1] == "5100"  # the job's 6,000 MB less the 15% headroom
    assert argv[argv.index("-w") + 1] == str(scratch / "fmriprep_work" / "sub-01")
    assert argv[argv.index("--participant-label") + 1] == "01"
    assert argv[argv.index("--fs-license-file") + 1] == str(wd / "license.txt")
    assert calls[0]["extra_args"] == ["--skip-bids-validation"]
    manifest = json.loads((wd / "results/fmri/sub-01/sub-01_fmriprep.json").read_text())
    assert manifest["runner"] == runner and manifest["command"][0] == program
    assert [r["run"] for r in manifest["runs"]] == [1, 2]
    log = (wd / "logs/fmriprep/sub-01.log").read_text()
    assert f"$ {program}" in log and "fmriprep (double): finished sub-01" in log
    assert (wd / "logs/benchmarks/fmriprep_run/sub-01.tsv").exists()
    data = np.load(wd / target)
    assert data.shape == (20, 8405 + 1559)  # 10-s films + 1.6-s lead-in + 4-s tail
    side = json.loads((wd / target).with_suffix(".json").read_text())
    assert side["NormalisationRuns"] == ["1", "2"] and len(side["ConfoundRegression"]["regressors"]) == 6
    assert (wd / "results/fmri/sub-01/sub-01_task-movie_run-2_desc-extracted_bold.npy").exists()


@pytest.mark.workflow
def test_rule_reports_container_failure(tmp_path):
    wd = tmp_path / "wf"
    wd.mkdir()
    cfg = _config(wd, "docker")
    (wd / "config.yaml").write_text(yaml.safe_dump(cfg))
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "fmriprep-docker"
    fake.write_text("#!/bin/sh\necho 'fmriprep crashed: out of memory' >&2\nexit 1\n")
    fake.chmod(0o755)
    res = smk(wd, "results/fmri/sub-01/sub-01_fmriprep.json", "--cores", "1", check=False,
              env={"PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}"})  # fmt: skip
    assert res.returncode != 0
    log = (wd / "logs/fmriprep/sub-01.log").read_text()
    assert "fmriprep crashed: out of memory" in log and "failed with exit status 1" in log
    assert not (wd / "results/fmri/sub-01/sub-01_fmriprep.json").exists()


def test_precomputed_manifest_matches_inventory(synth, runs_01, tmp_path):
    from cinebrain.fmri.fmriprep import fmriprep_subject

    inv = tmp_path / "inventory.parquet"
    pd.DataFrame(runs_01).to_parquet(inv)
    out = tmp_path / "m.json"
    fmriprep_subject("01", inventory=inv, bids_dir=synth / "bids", fmriprep_dir=synth / "bids/derivatives/fmriprep",
                     settings={"runner": "precomputed"}, threads=1, mem_mb=1000, tmpdir=tmp_path, manifest=out,
                     log=tmp_path / "log")  # fmt: skip
    doc = json.loads(out.read_text())
    assert doc["command"] is None and len(doc["runs"]) == len(runs_01)


def test_memory_sizing_for_cinebrain_length_runs():
    """A 1,350-volume run needs ~35 GB by our rule: 32 GB for the job (27 GB to fMRIPrep) is refused before the
    container starts, naming what to give; the profile's 64 GB passes, with 15% kept out of --mem-mb."""
    from cinebrain.fmri.fmriprep import FmriprepError, FmriprepSettings, fmriprep_mem_mb, memory_needed_mb

    cinebrain = [(96, 96, 72, 1350)] * 3  # 2-mm whole-brain runs of an 18-min film
    need = memory_needed_mb(cinebrain)
    assert 30000 < need < 40000 and memory_needed_mb([(96, 96, 72, 850)]) < need
    settings = FmriprepSettings(runner="docker", fs_license="l.txt")
    assert fmriprep_mem_mb(64000, settings, cinebrain, "01") == 54400
    with pytest.raises(FmriprepError, match=r"32000 MB for the job leaves 27200 MB to fMRIPrep .* longest run \(1350 "
                                            r"volumes\) needs about \d+ MB; fix: give the job at least \d+ MB"):
        fmriprep_mem_mb(32000, settings, cinebrain, "01")
