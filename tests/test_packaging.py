"""The project's own files: pins consistent between pyproject and envs, Makefile targets, CI entry."""

from __future__ import annotations

import re
import tomllib

import yaml

from .conftest import REPO


def _pins() -> dict[str, str]:
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    out = {}
    for d in deps:
        name, ver = d.split("==")
        out[name.lower()] = ver
    return out


def test_dependencies_pinned_and_no_torchvision():
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    assert all("==" in d for d in deps), deps
    pins = _pins()
    assert pins["torch"] == "2.13.0"
    assert "torchvision" not in pins and "torchaudio" not in pins


def test_conda_envs_match_pyproject():
    pins = _pins()
    envs = sorted((REPO / "envs").glob("*.yaml"))
    assert envs
    for env in envs:
        spec = yaml.safe_load(env.read_text())
        for dep in spec["dependencies"]:
            items = dep["pip"] if isinstance(dep, dict) else [dep]
            for item in items:
                m = re.match(r"^([A-Za-z0-9_.-]+)\s*(==|=)\s*([\w.]+)$", item)
                if not m or m.group(1) == "python":
                    continue
                name, ver = m.group(1).lower(), m.group(3)
                assert name in pins, f"{env.name}: {name} is not a dependency in pyproject.toml"
                assert pins[name] == ver, f"{env.name}: {name}={ver}, pyproject pins {pins[name]}"


def test_makefile_targets_and_ci():
    mk = (REPO / "Makefile").read_text()
    for target in ["demo", "test", "bench", "lint", "profiles"]:
        assert re.search(rf"^{target}:", mk, re.M), target
    ci = (REPO / ".ci/run").read_text()
    assert "make test" in ci and "set -e" in ci
