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
not dynamic, a shape crossing the frame is. The demo scores with Farneback (``benchmark.motion.flow``):
a RAFT of random weights would make dynamic degree a coin toss, and none can be trained here.

**Motion smoothness** — how well a frame-interpolation network predicts the frames a video drops.
VBench's rule (``vbench/motion_smoothness.py``, read, not copied): keep frames 0, 2, 4, ...; interpolate
the middle of each kept pair; the score is ``(255 - mean |interpolated - original|) / 255`` over the
odd frames (uint8 RGB). VBench's network is AMT-S, which no package ships (its code lives only in
repositories that vendor it); so the interpolation is configurable (:func:`interpolator`): ``flow``
warps both neighbours toward the middle along the flow function's bidirectional flows with Super SloMo's
linear-motion approximation of the intermediate flows (Jiang et al. 2018, eq. 4 at t = 1/2) and
averages them — AMT's own first step, without its learned refinement — and ``blend`` averages the two
neighbours (a still camera's interpolation; the known-answer reference). Scores from ``flow`` are not
AMT-S's numbers; the README says so beside the published table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..settings import setting

RAFT_ARCHITECTURES = ("raft_large", "raft_small")
FLOWS = ("farneback", *RAFT_ARCHITECTURES)
INTERPOLATIONS = ("flow", "blend")


@dataclass(frozen=True)
class MotionSettings:
    """Dynamic degree and motion smoothness (seed 001's motion metrics, VBench's protocol)."""

    flow: str = setting("farneback", "optical flow: farneback (OpenCV) or torchvision's raft_large / raft_small "
                        "(VBench: RAFT)", enum=FLOWS)  # fmt: skip
    raft: str | None = setting(None, "RAFT weights: a state dict of torchvision's architecture (needed by raft_*)")
    updates: int = setting(20, "RAFT's flow updates (VBench: 20)", minimum=1)
    interpolation: str = setting("flow", "motion smoothness's frame interpolation: flow (bidirectional-flow "
                                 "warping) or blend (VBench: AMT-S, no package)", enum=INTERPOLATIONS)  # fmt: skip

    def check(self) -> None:
        if self.flow != "farneback" and not self.raft:
            raise ValueError(f"benchmark.motion.flow is {self.flow} but benchmark.motion.raft (its weights) is not set; "
                             "fix: set raft to a state dict of torchvision's model, or flow: farneback")  # fmt: skip


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


def flow_function(settings: MotionSettings, device="cpu") -> Callable[[np.ndarray], np.ndarray]:
    """The configured flow function (frames (F, H, W, 3) uint8 -> flows (F - 1, H', W', 2) in pixels)."""
    if settings.flow == "farneback":
        from .pixel import flows

        return flows
    settings.check()
    return raft_flow_fn(load_raft(settings.raft, settings.flow, device), updates=settings.updates)


def _resize_flow(flow: np.ndarray, height: int, width: int) -> np.ndarray:
    """A flow field (H', W', 2) of another size as one of ``height`` x ``width`` (vectors rescaled)."""
    import cv2

    h, w = flow.shape[:2]
    if (h, w) == (height, width):
        return flow
    out = cv2.resize(flow, (width, height), interpolation=cv2.INTER_LINEAR)
    return out * np.array([width / w, height / h], dtype=out.dtype)


def _warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Backward warp: out(x) = image(x + flow(x)), bilinear, edges replicated (float32)."""
    import cv2

    h, w = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(image.astype(np.float32), gx + flow[..., 0].astype(np.float32), gy + flow[..., 1].astype(np.float32),
                     cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)  # fmt: skip


def interpolator(kind: str, flow_fn=None) -> Callable[[np.ndarray], np.ndarray]:
    """A function frames (K, H, W, 3) uint8 -> the K - 1 middle frames of consecutive pairs (uint8):
    ``blend`` their mean; ``flow`` each neighbour warped to the middle along the intermediate flows
    F_t0 = (F_10 - F_01) / 4 and F_t1 = (F_01 - F_10) / 4 (Super SloMo's eq. 4 at t = 1/2, from the
    ``flow_fn``'s forward and backward flows) and the two averaged."""
    if kind not in INTERPOLATIONS:
        raise ValueError(f"interpolation '{kind}' is not one of {INTERPOLATIONS}")

    def blend(frames: np.ndarray) -> np.ndarray:
        f = frames.astype(np.float32)
        return np.clip(np.rint((f[:-1] + f[1:]) / 2), 0, 255).astype(np.uint8)

    def flow(frames: np.ndarray) -> np.ndarray:
        h, w = frames.shape[1:3]
        fwd = flow_fn(frames)  # F_01 of each pair
        bwd = flow_fn(np.ascontiguousarray(frames[::-1]))[::-1]  # F_10 of each pair
        out = []
        for i in range(len(frames) - 1):
            f01, f10 = _resize_flow(fwd[i], h, w), _resize_flow(bwd[i], h, w)
            mid = 0.5 * _warp(frames[i], (f10 - f01) / 4) + 0.5 * _warp(frames[i + 1], (f01 - f10) / 4)
            out.append(np.clip(np.rint(mid), 0, 255).astype(np.uint8))
        return np.stack(out)

    if kind == "flow" and flow_fn is None:
        raise ValueError("the flow interpolation needs a flow function")
    return blend if kind == "blend" else flow


def motion_smoothness(clip: np.ndarray, interpolate: Callable[[np.ndarray], np.ndarray]) -> float:
    """VBench's motion smoothness of one clip (F, H, W, 3) uint8: the odd frames interpolated from the even
    ones, ``(255 - mean absolute difference) / 255`` (1: the interpolation predicts every dropped frame)."""
    if len(clip) < 3:
        raise ValueError(f"motion smoothness needs at least 3 frames, the clip has {len(clip)}")
    kept = np.ascontiguousarray(clip[0::2])
    predicted = interpolate(kept)
    dropped = clip[1::2][: len(predicted)]  # an even frame count leaves the last frame without a right neighbour
    diff = np.abs(predicted.astype(np.int16) - dropped.astype(np.int16))
    return float((255.0 - diff.mean()) / 255.0)
