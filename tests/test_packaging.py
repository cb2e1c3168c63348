"""The project's own files: pins consistent between pyproject and envs, Makefile targets, CI entry."""

from __future__ import annotations

import re
import tomllib

import pytest
import yaml

from .conftest import REPO


def _pins() -> dict[str, str]:
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    out = {}
    for d in deps:
        name, ver = d.split("==")
        out[name.lower()] = ver
    return out


#: The PyTorch release the project runs on: torch, torchvision, torchaudio (issue 18).
STACK = {"torch": "2.11.0", "torchvision": "0.26.0", "torchaudio": "2.11.0"}


def test_dependencies_pinned_and_one_pytorch_release():
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    assert all("==" in d for d in deps), deps
    pins = _pins()
    assert {p: pins.get(p) for p in STACK} == STACK
    # the model environment carries all three, and the Makefile installs no torch of its own
    torch_env = yaml.safe_load((REPO / "envs/torch.yaml").read_text())
    pip = next(d["pip"] for d in torch_env["dependencies"] if isinstance(d, dict))
    assert {f"{p}=={v}" for p, v in STACK.items()} <= set(pip)
    assert not re.search(r"pip install[^\n]*torch", (REPO / "Makefile").read_text())


def test_pytorch_stack_imports_at_the_pinned_versions():
    """The environment the Makefile built: the three packages import, their versions are pyproject's pins,
    and their compiled operators run together (cinebrain.stack, which the Makefile runs after installing)."""
    from cinebrain.stack import StackError, check_stack, installed_versions, pinned_versions

    assert pinned_versions() == STACK == {p: v for p, v in _pins().items() if p in STACK}
    assert installed_versions() == STACK
    found = check_stack()
    import torch
    import torchaudio
    import torchvision

    assert [found[p] for p in STACK] == [torch.__version__, torchvision.__version__, torchaudio.__version__]
    assert all(found[p].split("+")[0] == v for p, v in STACK.items())
    with pytest.raises(StackError, match=r"torchvision 0\.26\.0 \(pinned 0\.1\.0\).*fix: pip install torch==2\.11\.0 "
                       r"torchvision==0\.1\.0 torchaudio==2\.11\.0"):
        check_stack({**STACK, "torchvision": "0.1.0"})


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
