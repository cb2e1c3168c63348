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
    # the task runs as srun tasks of the job (one per GPU), and SLURM warns it with USR2 (the signal the
    # training loop and submitit handle; nothing in torch.distributed or NCCL installs a handler for it)
    assert "srun --unbuffered" in text and "--signal=USR2@120" in text


# ------------------------------------------------------------------------------------------ faults


def test_debug_failure_is_raised_never_a_pdb_prompt(tmp_path, monkeypatch):
    """submitit's DebugExecutor opens pdb on a failure (a silent hang in a terminal): the debug profile runs
    the task in process and raises."""
    import pdb

    monkeypatch.setattr(pdb, "post_mortem", lambda *a, **k: pytest.fail("pdb was opened"))
    with pytest.raises(LaunchError, match=r"cinebrain.stimuli:check_timing \(profile debug\) failed: StimulusError: "
                                          r".*whole number"):  # fmt: skip
        launch("cinebrain.stimuli:check_timing", {"clip_seconds": 4.2, "tr": 0.8}, "debug", tmp_path, LAUNCH_DIR)


def _launcher(tmp_path, out_dir, profile):
    """A launcher in its own process (as Snakemake's launcher rule is), so that it can be killed."""
    import subprocess
    import sys

    code = (f"from cinebrain.launch import launch\n"
            f"launch('tests.launch_tasks:slow_fit', {{'out_dir': {str(out_dir)!r}}}, {str(profile)!r}, "
            f"{str(tmp_path / 'logs')!r}, {str(LAUNCH_DIR)!r})\n")  # fmt: skip
    return subprocess.Popen([sys.executable, "-c", code], cwd=str(LAUNCH_DIR.parents[1]), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)  # fmt: skip


def _wait_for(predicate, timeout=60.0, what=""):
    import time

    t0 = time.time()
    while not predicate():
        if time.time() - t0 > timeout:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


def _metric_steps(out_dir):
    p = out_dir / "metrics.csv"
    return len(p.read_text().splitlines()) - 1 if p.exists() else 0


@pytest.mark.parametrize("kill", ["SIGKILL", "SIGTERM"])
def test_task_stops_when_its_launcher_dies_and_the_rerun_resumes(tmp_path, kill):
    """SIGKILL: the launcher's heartbeat stops, the task notices within launcher_timeout_s, saves its checkpoint
    and stops. SIGTERM: the launcher cancels its job before it exits. Either way nothing trains unattended, and
    a rerun resumes to the weights of an uninterrupted run."""
    import signal
    import time

    from .launch_tasks import slow_fit

    reference = slow_fit(str(tmp_path / "reference"), sleep_s=0.0)
    profile = tmp_path / "local-watched.yaml"
    profile.write_text(yaml.safe_dump({"executor": "local", "timeout_min": 5, "launcher_timeout_s": 2}))
    out = tmp_path / "run"
    proc = _launcher(tmp_path, out, profile)
    _wait_for(lambda: _metric_steps(out) >= 3, what="training to start")
    proc.send_signal(getattr(signal, kill))
    proc.wait(timeout=30)
    if kill == "SIGTERM":
        assert "the job was cancelled" in proc.stdout.read()
    else:
        _wait_for(lambda: any("no heartbeat from the launcher" in p.read_text(errors="ignore")
                              for p in (tmp_path / "logs").glob("*_log.out")), what="the task to notice")  # fmt: skip
        _wait_for(lambda: (out / "checkpoint.pt").exists(), what="its checkpoint")
    # the task is gone: the curve stops growing
    n = _metric_steps(out)
    time.sleep(2.0)
    assert _metric_steps(out) == n < 24
    assert launch("tests.launch_tasks:slow_fit", {"out_dir": str(out), "sleep_s": 0.0}, "debug", tmp_path / "again",
                  LAUNCH_DIR) == reference  # fmt: skip
    assert _metric_steps(out) == 24


def test_slurm_profile_sbatch_line_for_gpu_rules():
    """The Snakemake SLURM plugin's own sbatch line for the profile's GPU rules: the GPU request in the form it
    honours (gpu -> --gpus), --requeue (a pre-empted job is requeued, not failed), and no job arrays."""
    from types import SimpleNamespace

    from snakemake_executor_plugin_slurm.submit_string import get_submit_command
    from snakemake_executor_plugin_slurm.utils import set_gres_string

    profile = yaml.safe_load((LAUNCH_DIR.parents[1] / "profiles/slurm/config.yaml").read_text())
    assert profile["slurm-requeue"] is True and not any("array" in k for k in profile)

    class Resources(dict):
        __getattr__ = dict.get

    gpu_rules = {r: res for r, res in profile["set-resources"].items() if res.get("gpu")}
    assert {"captions_generate", "features_latents", "benchmark_score"} <= set(gpu_rules)
    for rule, res in gpu_rules.items():
        job = SimpleNamespace(resources=Resources(gpu=res["gpu"], mem_mb=64000, runtime=res["runtime"],
                                                  cpus_per_task=res.get("cpus_per_task", 1)), threads=1,
                              is_group=lambda: False, name=rule)  # fmt: skip
        assert set_gres_string(job).strip() == f"--gpus={res['gpu']}"
        params = {"run_uuid": "u", "slurm_logfile": "l", "comment_str": rule, "account": "-A acc",
                  "partition": "-p gpu", "workdir": "."}  # fmt: skip
        line = get_submit_command(job, params, SimpleNamespace(requeue=profile["slurm-requeue"], no_requeue=False,
                                                               qos=None, reservation=None))  # fmt: skip
        assert "--requeue" in line and "--array" not in line, line
