"""GPU dispatch through submitit (cinebrain.launch): profiles, in-process and subprocess runs, errors."""

from __future__ import annotations

import os

import pytest
import yaml

from cinebrain.launch import LaunchError, launch, load_profile, make_executor

from .conftest import LAUNCH_DIR


def test_debug_and_local_profiles_run_the_task(tmp_path):
    # any importable function with plain arguments is a task; this one returns 5 (volumes per 4-s clip)
    for profile in ("debug", "local"):
        assert launch("cinebrain.stimuli:check_timing", {"clip_seconds": 4.0, "tr": 0.8}, profile, tmp_path / profile, LAUNCH_DIR) == 5


def test_a_failing_task_is_a_clear_error(tmp_path):
    with pytest.raises(LaunchError, match=r"(?s)job .* \(cinebrain.stimuli:check_timing, profile local\) failed: .*whole "
                                          r"number of volumes.*logs: "):  # fmt: skip
        launch("cinebrain.stimuli:check_timing", {"clip_seconds": 4.2, "tr": 0.8}, "local", tmp_path, LAUNCH_DIR)
    with pytest.raises(ModuleNotFoundError):
        launch("cinebrain.nothing:train", {}, "debug", tmp_path, LAUNCH_DIR)


def test_profiles_are_checked(tmp_path):
    with pytest.raises(LaunchError, match=r"launch profile 'h100' does not exist .* one of \['debug', 'local', "
                                          r"'slurm-h100x1', 'slurm-h100x4'\]"):  # fmt: skip
        load_profile("h100", LAUNCH_DIR)
    with pytest.raises(LaunchError, match="slurm_partition is a placeholder"):
        load_profile("slurm-h100x1", LAUNCH_DIR)
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"executor": "local", "slurm_partition": "gpu"}))
    with pytest.raises(LaunchError, match=r"unknown key\(s\) \['slurm_partition'\] for executor local"):
        load_profile(str(bad), LAUNCH_DIR)


def test_slurm_profile_becomes_the_sbatch_options(tmp_path, monkeypatch):
    srun = tmp_path / "bin/srun"  # submitit only checks that srun exists; nothing is submitted here
    srun.parent.mkdir()
    srun.write_text("#!/bin/sh\nexit 0\n")
    srun.chmod(0o755)
    monkeypatch.setenv("PATH", f"{srun.parent}:{os.environ['PATH']}")
    prof = yaml.safe_load((LAUNCH_DIR / "slurm-h100x4.yaml").read_text()) | {"slurm_partition": "gpu", "slurm_account": "proj1"}
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(prof))
    ex = make_executor(load_profile(str(path), LAUNCH_DIR), tmp_path)
    text = ex._executor._make_submission_file_text("python -m task", "uid")  # the sbatch script submitit would submit
    for opt in ["--partition=gpu", "--account=proj1", "--gpus-per-node=4", "--ntasks-per-node=4", "--nodes=1",
                "--time=1440", "--signal=USR2@120", "--mem=256GB", "--cpus-per-task=8"]:  # fmt: skip
        assert opt in text, opt
    assert ex._executor.max_num_timeout == 10
