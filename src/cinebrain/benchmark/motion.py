"""Motion metrics CineNeuron reports (seed 001, supplementary A.2, after VBench's protocol).

**Dynamic degree** — whether a video moves at all, the fraction of videos that do. VBench's rule
(``vbench/dynamic_degree.py``, read, not copied): the frames are taken at about 8 fps (every
``round(fps / 8)``-th); for each consecutive pair, the optical flow's magnitude is averaged over its 5%
largest pixels; a video is dynamic when at least ``round(4 * frames / 16)`` pairs exceed
``max(1, 8 / fps) * 6 * min(H, W) / 256`` pixels. VBench's flow is RAFT (20 updates); ours is
torchvision's RAFT (:func:`load_raft`: ``raft_large`` as VBench's, or ``raft_small``, weights from a
file), on frames scaled to [-1, 1]. RAFT needs frames of at least 128 pixels a side: smaller clips (the
demo's 64 x 96) are enlarged by the smallest integer factor that gets there (bilinear), and the threshold
is that of the enlarged size, so the rule is unchanged in units of the frame.

Known answers without RAFT weights (none can be downloaded here): the rule takes any flow function, and
the tests run it on OpenCV's Farneback flow (:func:`cinebrain.benchmark.pixel.flows`): a still clip is
not dynamic, a shape crossing the frame is.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

RAFT_ARCHITECTURES = ("raft_large", "raft_small")


def top_flow_magnitude(flow: np.ndarray, fraction: float = 0.05) -> float:
    """Mean magnitude of the ``fraction`` largest flow vectors of one frame pair, flow (H, W, 2)."""
    rad = np.hypot(flow[..., 0], flow[..., 1]).ravel()
    n = max(1, int(rad.size * fraction))
    return float(np.sort(rad)[::-1][:n].mean())


def dynamic_params(height: int, width: int, n_frames: int, fps: float) -> tuple[float, int]:
    """VBench's (threshold in pixels, pairs needed) for frames of ``height`` x ``width``, ``n_frames`` of
    them (after the 8-fps subsampling) of a video of ``fps`` (VBench's factor uses the video's own rate)."""
    return max(1.0, 8.0 / fps) * 6.0 * min(height, width) / 256.0, round(4 * n_frames / 16.0)


def subsample(clip: np.ndarray, fps: float) -> tuple[np.ndarray, float]:
    """Every ``round(fps / 8)``-th frame (VBench takes videos at about 8 fps) and the resulting rate."""
    step = max(1, round(fps / 8))
    return clip[::step], fps / step


def is_dynamic(clip: np.ndarray, fps: float, flow_fn: Callable[[np.ndarray], np.ndarray]) -> tuple[bool, list]:
    """(whether the clip (F, H, W, 3) uint8 moves by VBench's rule, the per-pair scores) with ``flow_fn``:
    frames -> flows (F - 1, H', W', 2) in pixels of frames H' x W' (a function may enlarge them)."""
    frames, _ = subsample(clip, fps)
    flow = flow_fn(frames)
    thres, count = dynamic_params(flow.shape[1], flow.shape[2], len(frames), fps)  # VBench: the video's own fps
    scores = [top_flow_magnitude(f) for f in flow]
    return int(sum(s > thres for s in scores)) >= count, scores


def dynamic_degree(clips, fps: float, flow_fn) -> float:
    """Fraction of ``clips`` that are dynamic (:func:`is_dynamic`)."""
    return float(np.mean([is_dynamic(c, fps, flow_fn)[0] for c in clips]))


def load_raft(path: str, architecture: str = "raft_large", device="cpu"):
    """torchvision's RAFT (``architecture``) with the state dict saved in ``path`` (torchvision's own
    ``Raft_Large_Weights`` file, or VBench's ``raft-things.pth`` converted to torchvision's names)."""
    import torch
    from torchvision.models import optical_flow

    if architecture not in RAFT_ARCHITECTURES:
        raise ValueError(f"RAFT architecture '{architecture}' is not one of {RAFT_ARCHITECTURES}")
    model = getattr(optical_flow, architecture)(weights=None)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except (OSError, RuntimeError, ValueError) as e:
        raise ValueError(f"{path}: not a {architecture} state dict ({str(e).splitlines()[0]}); fix: save "
                         f"torchvision.models.optical_flow.{architecture}'s weights there "
                         "(benchmark.motion.raft)") from e  # fmt: skip
    return model.to(device).eval()


def raft_flow_fn(model, updates: int = 20, batch_size: int = 8, min_side: int = 128):
    """A flow function for :func:`is_dynamic`: RAFT's flow between consecutive frames, after enlarging
    them by the smallest integer factor that makes both sides at least ``min_side``."""
    import torch

    def flow(frames: np.ndarray) -> np.ndarray:
        dev = next(model.parameters()).device
        x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() / 127.5 - 1.0
        factor = int(np.ceil(min_side / min(x.shape[-2:])))
        if factor > 1:
            x = torch.nn.functional.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)
        pad_h, pad_w = (-x.shape[-2]) % 8, (-x.shape[-1]) % 8
        x = torch.nn.functional.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        out = []
        with torch.no_grad():
            for b in range(0, len(x) - 1, batch_size):
                a, c = x[b : b + batch_size], x[b + 1 : b + 1 + batch_size]
                a = a[: len(c)]
                out.append(model(a.to(dev), c.to(dev), num_flow_updates=updates)[-1].cpu())
        f = torch.cat(out)[..., : x.shape[-2] - pad_h, : x.shape[-1] - pad_w]
        return f.permute(0, 2, 3, 1).numpy()

    return flow
