"""Config files and their schema: every key validated and documented."""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cinebrain.config import ConfigError, validate_config

from .conftest import REPO

SCHEMA = REPO / "workflow/schemas/config.schema.yaml"
CONFIGS = [REPO / "config/config.yaml", REPO / "config/cinebrain.yaml"]


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_are_valid(path):
    validate_config(yaml.safe_load(path.read_text()), SCHEMA)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_key_is_documented(path):
    """Each key line is preceded by a comment line or carries an inline comment."""
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^(\s*)([A-Za-z_]+):", line)
        if not m or line.strip().startswith("#"):
            continue
        documented = "#" in line or any(lines[j].strip().startswith("#") for j in range(max(0, i - 3), i)
                                          if lines[j].startswith(m.group(1)) or not lines[j].strip())
        section = line.rstrip().endswith(":")
        assert documented or section, f"{path.name}:{i + 1}: key '{m.group(2)}' has no comment"


def test_unknown_key_and_wrong_type_name_the_key():
    cfg = yaml.safe_load((REPO / "config/config.yaml").read_text())
    bad = copy.deepcopy(cfg)
    bad["dataset"]["tr"] = "fast"
    bad["dataset"]["trr"] = 0.8
    bad["split"]["test_episodes"] = -1
    with pytest.raises(ConfigError) as exc:
        validate_config(bad, SCHEMA)
    msg = str(exc.value)
    assert "key 'dataset.tr': 'fast' is not of type 'number'" in msg
    assert "unknown key 'dataset.trr'" in msg
    assert "key 'split.test_episodes'" in msg


def test_snakemake_stops_before_any_job(tmp_path):
    cfg = yaml.safe_load((REPO / "config/config.yaml").read_text())
    cfg["synth"]["subjectz"] = 3
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(cfg))
    smk = Path(sys.executable).with_name("snakemake")
    res = subprocess.run([str(smk), "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path), "--configfile",
                          str(bad), "--cores", "1"], capture_output=True, text=True)  # fmt: skip
    assert res.returncode != 0
    assert "unknown key 'synth.subjectz'" in res.stdout + res.stderr
    assert not (tmp_path / "results").exists()
