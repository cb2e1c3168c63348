"""The PyTorch stack the project runs on: torch, torchvision and torchaudio of one release.

``python -m cinebrain.stack`` (the Makefile runs it after every installation) checks that the three
installed distributions are the versions the installed ``cinebrain`` pins, that they import, and that
each one's compiled operators load beside this torch: a torchvision or torchaudio built for another
torch imports but fails at its first operator ("operator torchvision::nms does not exist"), so one
operator of each is run.  It prints one line per package and whether CUDA is usable.
"""

from __future__ import annotations

import re
import sys
from importlib import metadata

#: The three distributions that must come from one PyTorch release.
PACKAGES = ("torch", "torchvision", "torchaudio")


class StackError(RuntimeError):
    """The installed PyTorch stack is not the pinned one, or its parts do not work together."""


def pinned_versions(dist: str = "cinebrain") -> dict[str, str]:
    """{package: version} of the exact pins (``==``) of ``PACKAGES`` among ``dist``'s requirements."""
    pins = {}
    for req in metadata.requires(dist) or []:
        m = re.match(r"^\s*([A-Za-z0-9_.-]+)\s*==\s*([^\s;,]+)\s*(;.*)?$", req)
        if m and m.group(1).lower() in PACKAGES and not (m.group(3) and "extra" in m.group(3)):
            pins[m.group(1).lower()] = m.group(2)
    missing = [p for p in PACKAGES if p not in pins]
    if missing:
        raise StackError(f"{dist}'s requirements pin no exact version of {missing}; fix: pin all of {PACKAGES} "
                         "with == in pyproject.toml and reinstall")  # fmt: skip
    return pins


def installed_versions() -> dict[str, str | None]:
    """{package: installed version without its local build tag (``+cu130``), or None}."""
    out = {}
    for p in PACKAGES:
        try:
            out[p] = metadata.version(p).split("+")[0]
        except metadata.PackageNotFoundError:
            out[p] = None
    return out


def check_stack(pins: dict[str, str] | None = None) -> dict[str, str]:
    """Raise :class:`StackError` unless the pinned torch, torchvision and torchaudio are installed and work
    together; returns {package: full version, "cuda": available?}."""
    pins = pins or pinned_versions()
    have = installed_versions()
    wrong = {p: (have[p], pins[p]) for p in PACKAGES if have[p] != pins[p]}
    if wrong:
        detail = ", ".join(f"{p} {h or 'missing'} (pinned {w})" for p, (h, w) in wrong.items())
        raise StackError(f"the PyTorch stack in {sys.prefix} is not the pinned one: {detail}; fix: "
                         f"pip install {' '.join(f'{p}=={pins[p]}' for p in PACKAGES)} (or rm -rf .venv && make test)")  # fmt: skip
    import torch
    import torchaudio
    import torchvision

    try:  # one compiled operator of each: a build for another torch fails here, not at import
        torchvision.ops.nms(torch.tensor([[0.0, 0.0, 1.0, 1.0]]), torch.tensor([1.0]), 0.5)
        torchaudio.functional.lowpass_biquad(torch.zeros(1, 64), 16000, 1000.0)
    except (RuntimeError, OSError) as err:
        raise StackError(f"torchvision/torchaudio do not run beside torch {torch.__version__}: {err}; fix: "
                         f"reinstall all three from one release ({', '.join(f'{p}=={pins[p]}' for p in PACKAGES)})") from err  # fmt: skip
    return {"torch": torch.__version__, "torchvision": torchvision.__version__, "torchaudio": torchaudio.__version__,
            "cuda": str(torch.cuda.is_available())}  # fmt: skip


def main() -> int:
    try:
        found = check_stack()
    except StackError as err:
        print(f"cinebrain.stack: {err}", file=sys.stderr)
        return 1
    print("PyTorch stack: " + ", ".join(f"{p} {found[p]}" for p in PACKAGES) + f"; CUDA available: {found['cuda']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
