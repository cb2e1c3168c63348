"""Shared fixtures: one small synthetic dataset per test session, and mutable copies of it."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

import pytest

# Under pytest-xdist (`make test`: 2 workers on 2 cores) each worker, and every process it starts, gets its
# share of the cores: OpenMP threads beyond it spin against the other worker's (a tiny CLIP's training took
# 134 s instead of 14 s).  Set before torch is imported anywhere in the worker.
if "PYTEST_XDIST_WORKER_COUNT" in os.environ:
    _share = max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))
    for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(_var, str(_share))

from cinebrain.synth import SynthConfig, generate

REPO = Path(__file__).resolve().parents[1]
#: The workflow's resources that caption functions take (the library never looks for them itself).
CAPTION_RESOURCES = {"prompt_dir": REPO / "resources/prompts", "wordlist": REPO / "resources/categories/superclasses.yaml"}
LAUNCH_DIR = REPO / "config/launch"
ROI_DIR = REPO / "resources/rois"

#: Small but complete: 2 subjects, 3 episodes (1 private each, 1 shared), 40-s episodes (57 volumes).
SMALL = SynthConfig(subjects=2, episodes=3, episode_seconds=40, eeg_sfreq=1000, seed=7, height=48, width=64, fps=12)


@pytest.fixture(scope="session")
def synth(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "ds"
    generate(out, SMALL, progress=False, roi_dir=ROI_DIR)
    return out


@pytest.fixture
def bids_copy(synth, tmp_path) -> Path:
    """A copy of the raw BIDS tree (files hard-linked: replace a file, never edit it in place)."""
    dst = tmp_path / "bids"
    shutil.copytree(synth / "bids", dst, copy_function=os.link, ignore=shutil.ignore_patterns("derivatives"))
    return dst


@contextlib.contextmanager
def interrupted_after_step(step: int):
    """A pre-emption in the block: every Trainer receives SIGUSR1 after ``step`` and the block must end in
    TrainingInterrupted (its checkpoint written)."""
    import signal

    from cinebrain.train import TrainingInterrupted, loop

    real_fit = loop.Trainer.fit

    def fit_and_stop(self):
        self.on_step = lambda tr: tr.step == step and signal.raise_signal(signal.SIGUSR1)
        return real_fit(self)

    loop.Trainer.fit = fit_and_stop
    try:
        with pytest.raises(TrainingInterrupted):
            yield
    finally:
        loop.Trainer.fit = real_fit


def replace_text(path: Path, text: str) -> None:
    """Write a new file at ``path`` (breaking the hard link to the shared dataset)."""
    path.unlink()
    path.write_text(text)


def replace_bytes(path: Path, data: bytes) -> None:
    path.unlink()
    path.write_bytes(data)


#: Clip geometry of the tests: CineBrain's timing (4 s, 8 fps, 33 frames) at the synthetic films' size.
CLIPS = {"height": SMALL.height, "width": SMALL.width, "shot_threshold": 15.0}


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> Path:
    """Every tiny random model of cinebrain.synth.models (CLIP, Whisper, Qwen2.5-VL, LLaVA-Video, CogVideoX, ...)
    saved with save_pretrained."""
    from cinebrain.synth.models import write_tiny_models

    out = tmp_path_factory.mktemp("models") / "tiny"
    write_tiny_models(out)
    return out


@pytest.fixture(scope="session")
def clips(synth, tmp_path_factory) -> Path:
    """Every SMALL episode cut into clips; returns the folder holding clips.parquet."""
    from cinebrain.stimuli import collect_clips, cut_rule

    out = tmp_path_factory.mktemp("stimuli")
    tables = []
    for mp4 in sorted((synth / "bids/stimuli").glob("ep*.mp4")):
        ep = mp4.stem
        cut_rule(mp4, ep, out / ep, out / f"{ep}_clips.parquet", CLIPS)
        tables.append(out / f"{ep}_clips.parquet")
    collect_clips(tables, out / "clips.parquet")
    return out


@pytest.fixture(scope="session")
def tiny_workdir(tmp_path_factory, worker_id) -> Path:
    """The whole workflow run locally (2 cores) on the tiny configuration (tests/tiny_workflow.py), once per
    test session for every pytest-xdist worker: the first worker to ask runs it under a file lock in the
    session's shared temporary folder, the others wait for it and reuse it (the workflow and SLURM tests
    both read it).  Tests must not change it: copy it first (``copy_workdir``)."""
    import fcntl

    import yaml

    from .tiny_workflow import NO_NETWORK, TINY, smk

    root = tmp_path_factory.getbasetemp()
    if worker_id != "master":
        root = root.parent  # pytest-xdist: the folder above every worker's own
    wd = root / "tiny_workflow"
    with open(root / "tiny_workflow.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (wd / ".complete").exists():
            shutil.rmtree(wd, ignore_errors=True)
            wd.mkdir()
            (wd / "config.yaml").write_text(yaml.safe_dump(TINY))
            res = smk(wd, "--cores", "2", env=NO_NETWORK)  # offline: every model is a local folder
            assert "the jobs run offline (HF_HUB_OFFLINE=1" in res.stderr, res.stderr[-2000:]
            (wd / ".complete").touch()
    return wd


def _workflow_once(tmp_path_factory, worker_id, name: str, config: dict) -> Path:
    """The whole workflow on ``config`` in <session tmp>/<name>, run once per test session (file lock; see
    :func:`tiny_workdir`), offline."""
    import fcntl

    import yaml

    from .tiny_workflow import NO_NETWORK, smk

    root = tmp_path_factory.getbasetemp()
    if worker_id != "master":
        root = root.parent
    wd = root / name
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (wd / ".complete").exists():
            shutil.rmtree(wd, ignore_errors=True)
            wd.mkdir()
            (wd / "config.yaml").write_text(yaml.safe_dump(config))
            smk(wd, "--cores", "2", env=NO_NETWORK)
            (wd / ".complete").touch()
    return wd


@pytest.fixture(scope="session")
def cc2017_workdir(tmp_path_factory, worker_id) -> Path:
    """The whole workflow on the tiny cc2017-shaped replica (tests/tiny_workflow.py CC2017: fMRI only, repeats)."""
    from .tiny_workflow import CC2017

    return _workflow_once(tmp_path_factory, worker_id, "cc2017_workflow", CC2017)


@pytest.fixture(scope="session")
def betas_workdir(tmp_path_factory, worker_id) -> Path:
    """The whole workflow on the tiny per-clip betas replica (tests/tiny_workflow.py BETAS)."""
    from .tiny_workflow import BETAS

    return _workflow_once(tmp_path_factory, worker_id, "betas_workflow", BETAS)


def copy_workdir(src: Path, dst: Path) -> Path:
    """A copy of a workflow folder that Snakemake sees as up to date (file times and its metadata kept)."""
    shutil.copytree(src, dst, symlinks=True, ignore=shutil.ignore_patterns(".complete", "*.lock"))
    return dst


#: Test files that take minutes, started first so that two pytest-xdist workers (`make test`, --dist
#: loadfile) finish together: longest first.
_LONG_FILES = ("test_slurm.py", "test_demo.py", "test_workflow.py", "test_cc2017_workflow.py", "test_betas_workflow.py",
               "test_fmriprep.py")  # fmt: skip


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(_LONG_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
