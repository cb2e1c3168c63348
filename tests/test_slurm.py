"""The workflow on a real SLURM cluster: the project's SLURM profile, submitit's SLURM executor for the GPU
launchers, pre-emption and requeue, failures and retries, reruns of changed steps.

The cluster is one node started once per test session by tests/slurm/start_cluster.sh (Debian's SLURM
22.05, munge, slurmdbd + MariaDB, two fake GPUs, a preempting partition) and stopped by
tests/slurm/stop_cluster.sh.  The tests skip, with the reason, where that cannot run (not root, no apt).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from .conftest import LAUNCH_DIR, REPO
from .tiny_workflow import SMK, TINY

pytestmark = [pytest.mark.slurm, pytest.mark.workflow]

CLUSTER = REPO / "tests/slurm"
LAUNCH = CLUSTER / "launch/slurm-ci.yaml"


def _cannot_run() -> str | None:
    if os.environ.get("CINEBRAIN_SLURM_TESTS") == "0":
        return "CINEBRAIN_SLURM_TESTS=0"
    if os.geteuid() != 0:
        return "the SLURM tests start a one-node cluster (tests/slurm/start_cluster.sh), which needs root"
    if shutil.which("slurmctld") is None and shutil.which("apt-get") is None:
        return "the SLURM tests install SLURM with apt-get (Debian/Ubuntu), which this machine does not have"
    conf = Path("/etc/slurm/slurm.conf")
    if conf.exists() and not conf.is_symlink():
        return f"{conf} exists: this machine has a SLURM of its own, which the tests will not reconfigure"
    return None


def _env() -> dict:
    """This process's environment without SLURM_* (as on a login node) — e.g. when pytest runs in a job."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}


@pytest.fixture(scope="session")
def slurm():
    """A running one-node SLURM cluster for the session; the seconds it took to start."""
    reason = _cannot_run()
    if reason:
        pytest.skip(reason)
    subprocess.run(["bash", str(CLUSTER / "stop_cluster.sh")], env=_env(), capture_output=True)  # an aborted run's
    t0 = time.monotonic()
    res = subprocess.run(["bash", str(CLUSTER / "start_cluster.sh")], env=_env(), capture_output=True, text=True)
    started = time.monotonic() - t0
    if res.returncode != 0:
        pytest.fail(f"tests/slurm/start_cluster.sh failed ({res.returncode}):\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}")
    print(f"\nSLURM cluster started in {started:.0f} s: {res.stdout.strip().splitlines()[-1]}")
    yield started
    subprocess.run(["bash", str(CLUSTER / "stop_cluster.sh")], env=_env(), capture_output=True)


def sacct(*args) -> pd.DataFrame:
    """Every job (one row per job, not per step; requeued runs included) as sacct reports it."""
    fields = ["JobID", "JobName", "Partition", "Account", "State", "ReqMem", "ReqCPUS", "ReqTRES", "Comment",
              "Submit"]  # fmt: skip
    out = subprocess.run(["sacct", "-a", "-X", "-P", "-n", "--duplicates", "-S", "now-1day", "-o", ",".join(fields), *args],
                         capture_output=True, text=True, check=True, env=_env()).stdout  # fmt: skip
    rows = [line.split("|") for line in out.splitlines() if line.strip()]
    table = pd.DataFrame(rows, columns=fields)
    table["rule"] = table["Comment"].str.extract(r"^rule_(.+?)(?:_wildcards_.*)?$", expand=False)
    return table


def smk_slurm(workdir: Path, *args, check=True) -> subprocess.CompletedProcess:
    """snakemake --profile profiles/slurm with the test overlay (tests/slurm/overlay.yaml) as workflow profile."""
    profile = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())
    overlay = yaml.safe_load((CLUSTER / "overlay.yaml").read_text())
    overlay["default-resources"] = {**profile["default-resources"], **overlay["default-resources"]}
    over = workdir / ".overlay"
    over.mkdir(exist_ok=True)
    (over / "config.yaml").write_text(yaml.safe_dump(overlay))
    cmd = [SMK, "--profile", str(REPO / "profiles/slurm"), "--workflow-profile", str(over), "-s", str(REPO / "Snakefile"),
           *args, "--directory", str(workdir), "--configfile", str(workdir / "config.yaml")]  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=workdir, env=_env())
    if check and res.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{res.stdout[-4000:]}\n{res.stderr[-4000:]}")
    return res


#: What the SLURM run makes: one subject's and one variant's way from the raw recordings to the benchmark
#: scores (synthetic BIDS, inventory, fMRI and EEG preprocessing, clips, captions, features, the clip
#: dataset, encoder, decoder, reconstructions, scores) — 31 jobs, 3 of them submitit GPU tasks.  The whole
#: tiny workflow (68 jobs) takes ~7 min on the 2-core CI machine under SLURM (each job starts Snakemake
#: twice), more than the test budget allows.
TARGETS = ("results/benchmark/cinesync/cinesync/sub-01",)

#: Outputs that record how long something took or when a file was made, not what was computed: compared
#: without these fields.  TensorBoard event files are named by time, host and process (their scalars are
#: the rows of metrics.csv).
VOLATILE_JSON = ("timings_s", "mtime")
VOLATILE_COLUMNS = ("samples_per_s",)


def _content(path: Path):
    """A file's content for comparison: bytes, except for timings and safetensors headers."""
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), "np") as f:
            return f.metadata(), {k: f.get_tensor(k).tobytes() for k in f.keys()}
    if path.suffix == ".json":
        import json

        def strip(x):
            if isinstance(x, dict):
                return {k: strip(v) for k, v in x.items() if k not in VOLATILE_JSON}
            return [strip(v) for v in x] if isinstance(x, list) else x

        return strip(json.loads(path.read_text()))
    if path.name == "metrics.csv":
        return pd.read_csv(path).drop(columns=list(VOLATILE_COLUMNS), errors="ignore").to_csv()
    return hashlib.sha256(path.read_bytes()).hexdigest()


def outputs(workdir: Path) -> dict[str, Path]:
    return {str(f.relative_to(workdir)): f for f in sorted((workdir / "results").rglob("*"))
            if f.is_file() and "tensorboard" not in f.parts}  # fmt: skip


def _config() -> dict:
    config = yaml.safe_load(yaml.safe_dump(TINY))
    cs = config["methods"]["cinesync"]
    cs["encoder"]["launch"] = cs["decoder"]["launch"] = str(LAUNCH)
    return config


@pytest.fixture(scope="module")
def local_run(tiny_workdir):
    """The whole tiny workflow run locally (2 cores), shared with the workflow tests (conftest.tiny_workdir):
    what the SLURM run of TARGETS must reproduce, file for file."""
    return tiny_workdir


@pytest.fixture(scope="module")
def slurm_run(slurm, local_run, tmp_path_factory):
    """The same TARGETS through `snakemake --profile profiles/slurm`, the GPU launchers on the slurm-ci
    launch profile (a config difference that changes no output)."""
    wd = tmp_path_factory.mktemp("wf_slurm")
    (wd / "config.yaml").write_text(yaml.safe_dump(_config()))
    t0 = time.monotonic()
    res = smk_slurm(wd, *TARGETS)
    seconds = time.monotonic() - t0
    jobs = sacct()
    print(f"\n{TARGETS} of the tiny workflow on SLURM: {seconds:.0f} s, {len(jobs)} SLURM jobs")
    return {"dir": wd, "local": local_run, "log": res.stdout + res.stderr, "seconds": seconds, "jobs": jobs}


def test_workflow_runs_as_slurm_jobs_with_the_profiles_resources(slurm_run):
    jobs = slurm_run["jobs"]
    assert (jobs["State"] == "COMPLETED").all(), jobs[jobs["State"] != "COMPLETED"]
    assert (jobs["Partition"] == "main").all() and (jobs["Account"] == "root").all()
    rules = set(jobs["rule"].dropna())
    # every CPU stage ran as a job; the GPU launchers and the precomputed fMRIPrep stayed in Snakemake
    assert rules == {"synth_generate", "bids_inventory", "models_tiny", "fmri_rois", "fmri_extract", "fmri_normalise",
                     "eeg_preprocess", "eeg_clean", "stimuli_cut", "stimuli_table", "captions_generate",
                     "features_embed", "features_latents", "features_action", "features_wan_latents", "data_build",
                     "benchmark_score"}, rules  # fmt: skip
    profile = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())
    for rule in ("eeg_preprocess", "stimuli_cut", "features_embed", "data_build", "bids_inventory"):
        res = {**profile["default-resources"], **profile["set-resources"].get(rule, {})}
        row = jobs[jobs["rule"] == rule].iloc[0]
        mem = int(str(res["mem_mb"]).split("*")[0])  # "N * attempt", first attempt
        assert row["ReqMem"] == f"{mem}M", (rule, row["ReqMem"])
        assert int(row["ReqCPUS"]) == res["cpus_per_task"], (rule, row["ReqCPUS"])
        assert ("gres/gpu=1" in row["ReqTRES"]) == bool(res.get("gpu")), (rule, row["ReqTRES"])


def _encoded(key: str) -> bool:
    """Outputs made of, or computed from, the reconstructions' H.264 files: libx264 does not always write the
    same bitstream for the same frames (README, "Known problems"), so they are compared with a tolerance."""
    return "/recon/" in key or key.startswith(("results/benchmark/", "results/report/cinesync/"))


def _close(a: Path, b: Path) -> bool:
    """Decoded videos and figures within a grey level on average; scores within a few percent."""
    import json

    if a.suffix in (".mp4", ".png"):
        from matplotlib.image import imread

        from cinebrain.stimuli import read_video

        x, y = (read_video(p) if p.suffix == ".mp4" else imread(p) * 255 for p in (a, b))
        return x.shape == y.shape and np.abs(x.astype(float) - y).mean() < 1.0
    if a.suffix == ".parquet":
        x, y = pd.read_parquet(a), pd.read_parquet(b)
        num = x.select_dtypes("number").columns
        return (list(x.columns) == list(y.columns) and x.drop(columns=num).equals(y.drop(columns=num))
                and np.allclose(x[num].to_numpy(float), y[num].to_numpy(float), rtol=0.05, atol=0.05, equal_nan=True))  # fmt: skip
    if a.suffix == ".json":
        return _close_json(json.loads(a.read_text()), json.loads(b.read_text()))
    return _content(a) == _content(b)


def _close_json(x, y) -> bool:
    """Numbers (and lists of them) within 25%, the rest equal; nested objects (set.json: FVD per condition) alike."""
    if isinstance(x, dict):
        return isinstance(y, dict) and x.keys() == y.keys() and all(_close_json(x[k], y[k]) for k in x)
    if isinstance(x, (int, float, list)) and not isinstance(x, bool):
        return np.allclose(np.asarray(x, float), np.asarray(y, float), rtol=0.25)
    return x == y


def test_slurm_outputs_equal_the_local_runs(slurm_run):
    remote, local = outputs(slurm_run["dir"]), outputs(slurm_run["local"])
    # the local run made the whole workflow, the SLURM run one subject's way: every file the SLURM run wrote
    assert len(remote) > 100 and set(remote) <= set(local), sorted(set(remote) - set(local))
    differ = [k for k in remote if not _encoded(k) and _content(remote[k]) != _content(local[k])]
    assert not differ, differ
    encoded = [k for k in remote if _encoded(k)]
    assert len(encoded) >= 5 and not [k for k in encoded if not _close(remote[k], local[k])], encoded


def test_gpu_launcher_submits_through_submitit_with_a_gpu(slurm_run):
    """cinesync_encoder (a local launcher) sent its task to SLURM through submitit with the slurm-ci launch
    profile; the task saw the GPU SLURM gave it (CUDA_VISIBLE_DEVICES) and still computed on the CPU."""
    wd, jobs = slurm_run["dir"], slurm_run["jobs"]
    logs = sorted((wd / "logs/cinesync/submitit/encoder_cinesync_sub-01").glob("*_0_log.out"))
    assert logs, list((wd / "logs/cinesync/submitit").rglob("*"))
    text = logs[-1].read_text()
    assert "task cinebrain.methods.cinesync.train:train_encoder on " in text and "CUDA_VISIBLE_DEVICES=0" in text, text[:2000]
    job_id = text.split("SLURM_JOB_ID=")[1].split(",")[0]
    row = jobs[jobs["JobID"] == job_id].iloc[0]
    assert row["JobName"] == "submitit" and "gres/gpu=1" in row["ReqTRES"] and row["State"] == "COMPLETED", row
    # one submitit job per launcher run: the encoder, the decoder, the reconstructions
    assert (jobs["JobName"] == "submitit").sum() == 3, jobs[jobs["JobName"] == "submitit"]


def _planned(dry_run: str) -> list[str]:
    return sorted(re.findall(r"^(?:local)?rule (\w+):", dry_run, flags=re.M))


def test_changed_late_parameter_reruns_only_the_jobs_downstream(slurm_run):
    """methods.cinesync.decoder.reconstruct.steps changes the reconstructions and hence the scores: Snakemake lists the
    changed outputs, and resubmits those two jobs only; everything upstream is up to date."""
    wd = slurm_run["dir"]
    config = yaml.safe_load((wd / "config.yaml").read_text())
    config["methods"]["cinesync"]["decoder"]["reconstruct"]["steps"] += 1
    (wd / "config.yaml").write_text(yaml.safe_dump(config))
    changed = smk_slurm(wd, "--list-changes", "params").stdout.split()
    assert set(changed) == {"results/methods/cinesync/cinesync/sub-01/recon",
                            "results/report/cinesync/cinesync_sub-01_recon.png"}, changed
    assert _planned(smk_slurm(wd, *TARGETS, "-n").stdout) == ["benchmark_score", "cinesync_reconstruct"]
    before = set(sacct()["JobID"])
    smk_slurm(wd, *TARGETS)
    new = sacct()
    new = new[~new["JobID"].isin(before)]
    # the launcher's submitit task and the scoring job
    assert sorted(new["rule"].fillna(new["JobName"])) == ["benchmark_score", "submitit"], new
    assert (new["State"] == "COMPLETED").all(), new


def test_failed_job_is_reported_with_its_log_and_retried_with_more_memory(slurm_run):
    """A job that exits non-zero: Snakemake names the rule and the SLURM log; --retries 1 resubmits it, with
    the memory the profile's resource function gives the second attempt (4000 * attempt MB)."""
    wd = slurm_run["dir"]
    stem = "results/eeg/sub-01/sub-01_task-movie_run-1"
    broken = wd / f"{stem}_desc-preica_eeg.fif"
    broken.unlink()
    broken.write_bytes(b"not a FIF file")
    before = set(sacct()["JobID"])
    res = smk_slurm(wd, f"{stem}_desc-clean_eeg.fif", "--forcerun", "eeg_clean", "--retries", "1", check=False)
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert "Error in rule eeg_clean" in out, out[-3000:]
    logs = sorted((wd / ".snakemake/slurm_logs/rule_eeg_clean").rglob("*.log"))
    assert len(logs) == 2, logs  # one per attempt
    assert any(str(log.relative_to(wd)) in out or str(log) in out for log in logs), out[-3000:]
    jobs = sacct()
    jobs = jobs[~jobs["JobID"].isin(before)]
    assert list(jobs["rule"]) == ["eeg_clean", "eeg_clean"] and (jobs["State"] == "FAILED").all(), jobs
    assert list(jobs["ReqMem"]) == ["4000M", "8000M"], jobs
    assert not (wd / f"{stem}_desc-clean_eeg.fif").exists()  # no partial output


def _train_kwargs(dataset: Path, out_dir: Path, steps: int) -> dict:
    return {"variant": "cinesync", "train_dir": str(dataset / "train"), "test_dir": str(dataset / "test"),
            "model": dict(TINY["methods"]["cinesync"]["encoder"]["model"]), "evaluation": {"repeats": 1},
            "device": "auto", "train": {"steps": steps, "batch_size": 2, "warmup_steps": 1, "checkpoint_every": 10_000},
            "roi_sets": None, "progress": False, "out_dir": str(out_dir)}  # fmt: skip


def test_preempted_training_checkpoints_requeues_and_resumes_to_the_same_weights(slurm, local_run, tmp_path):
    from safetensors.torch import load_file

    from cinebrain.launch import launch

    dataset = local_run / "results/dataset/sub-01"
    steps = 600
    t0 = time.monotonic()
    launch("cinebrain.methods.cinesync.train:train_encoder", _train_kwargs(dataset, tmp_path / "plain", steps), "debug",
           tmp_path / "plain_logs", LAUNCH_DIR)  # fmt: skip
    plain_s = time.monotonic() - t0

    box = {}

    def run():
        try:
            box["result"] = launch("cinebrain.methods.cinesync.train:train_encoder",
                                   _train_kwargs(dataset, tmp_path / "preempted", steps), str(LAUNCH),
                                   tmp_path / "logs", LAUNCH_DIR)  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - reported below
            box["error"] = exc

    worker = threading.Thread(target=run)
    worker.start()
    curve = tmp_path / "preempted/metrics.csv"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (curve.exists() and len(curve.read_text().splitlines()) > 20):
        time.sleep(0.2)
    assert curve.exists(), "the training job did not start"
    # an urgent job wants the whole node: SLURM pre-empts (requeues) the training job to run it
    urgent = subprocess.run(["sbatch", "--parsable", "-p", "urgent", "-A", "root", "-c", "16", "--mem=1000", "-J", "urgent",
                             "-o", str(tmp_path / "urgent.out"), "--wrap", "sleep 3"],
                            capture_output=True, text=True, check=True, env=_env()).stdout.strip()  # fmt: skip
    worker.join(timeout=300)
    assert not worker.is_alive(), "the pre-empted training did not finish"
    assert "error" not in box, box.get("error")
    log = "\n".join(p.read_text() for p in sorted((tmp_path / "logs").glob("*_log.*")))
    assert "this job is preempted" in log and "checkpoint saved" in log, log[-3000:]
    assert "SLURM_RESTART_COUNT=1" in log, log[-3000:]  # the requeued run
    stopped = int(re.search(rf"signal SIGUSR2 after step (\d+) of {steps}: checkpoint saved", log).group(1))
    assert 20 < stopped < steps, stopped
    # the resumed run continued from its checkpoint (the curve has every step once) and ends where an
    # uninterrupted run ends, bit for bit
    steps_logged = [int(line.split(",")[0]) for line in curve.read_text().splitlines()[1:]]
    assert steps_logged == list(range(1, steps + 1))
    a, b = load_file(tmp_path / "plain/model.safetensors"), load_file(tmp_path / "preempted/model.safetensors")
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)
    # sacct --duplicates: one record per start of the job, the first requeued by the pre-emption
    job_id = log.split("SLURM_JOB_ID=")[1].split(",")[0]
    for _ in range(40):  # the accounting database learns of the job's end a moment after submitit
        runs = sacct("-j", job_id)
        if runs["State"].iloc[-1] == "COMPLETED":
            break
        time.sleep(0.5)
    assert len(runs) == 2 and runs["State"].iloc[0] in ("REQUEUED", "PREEMPTED"), runs
    assert runs["State"].iloc[-1] == "COMPLETED" and "gres/gpu=1" in runs["ReqTRES"].iloc[0], runs
    assert sacct("-j", urgent)["State"].iloc[0] == "COMPLETED"
    print(f"\npre-emption test: uninterrupted training {plain_s:.0f} s; pre-empted at step {stopped} of {steps}, "
          f"resumed and finished {time.monotonic() - t0 - plain_s:.0f} s after its submission")
