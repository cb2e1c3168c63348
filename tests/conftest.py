"""Shared fixtures: one small synthetic dataset per test session, and mutable copies of it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from cinebrain.synth import SynthConfig, generate

REPO = Path(__file__).resolve().parents[1]

#: Small but complete: 2 subjects, 3 episodes (1 private each, 1 shared), 40-s episodes (57 volumes).
SMALL = SynthConfig(subjects=2, episodes=3, episode_seconds=40, eeg_sfreq=1000, seed=7, height=48, width=64, fps=12)


@pytest.fixture(scope="session")
def synth(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "ds"
    generate(out, SMALL, progress=False)
    return out


@pytest.fixture
def bids_copy(synth, tmp_path) -> Path:
    """A copy of the raw BIDS tree (files hard-linked: replace a file, never edit it in place)."""
    dst = tmp_path / "bids"
    shutil.copytree(synth / "bids", dst, copy_function=os.link, ignore=shutil.ignore_patterns("derivatives"))
    return dst


def replace_text(path: Path, text: str) -> None:
    """Write a new file at ``path`` (breaking the hard link to the shared dataset)."""
    path.unlink()
    path.write_text(text)


def replace_bytes(path: Path, data: bytes) -> None:
    path.unlink()
    path.write_bytes(data)
