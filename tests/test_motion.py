"""Motion metrics (cinebrain.benchmark.motion): VBench's dynamic-degree and motion-smoothness rules on known
answers, the interpolations, RAFT loading and the settings' check."""

from __future__ import annotations

import numpy as np
import pytest

from cinebrain.benchmark.motion import (
    MotionSettings,
    dynamic_degree,
    dynamic_params,
    flow_function,
    interpolator,
    is_dynamic,
    load_raft,
    motion_smoothness,
    raft_flow_fn,
    subsample,
    top_flow_magnitude,
)
from cinebrain.benchmark.pixel import flows


def _clip(step: float, frames: int = 33, seed: int = 0) -> np.ndarray:
    """A textured background with a bright 16-pixel square moving ``step`` pixels per frame to the right."""
    rng = np.random.default_rng(seed)
    base = np.repeat(np.repeat(rng.integers(40, 120, (8, 12, 3)), 8, 0), 8, 1).astype(np.uint8)
    out = np.repeat(base[None], frames, 0)
    for i in range(frames):
        x = int(round(8 + step * i)) % 80
        out[i, 24:40, x : x + 16] = 240
    return out


def test_dynamic_params_are_vbench_s():
    assert dynamic_params(480, 720, 33, 8.0) == (pytest.approx(11.25), 8)  # 6 px per 256, 4 pairs per 16 frames
    assert dynamic_params(64, 96, 33, 4.0) == (pytest.approx(3.0), 8)  # below 8 fps the threshold grows
    frames, rate = subsample(np.zeros((72, 4, 4, 3)), 24.0)
    assert len(frames) == 24 and rate == 8.0
    flow = np.zeros((10, 10, 2))
    flow[0, :5] = (3.0, 4.0)  # 5 of 100 vectors of length 5: the top 5%
    assert top_flow_magnitude(flow) == pytest.approx(5.0)


def test_a_still_clip_is_not_dynamic_and_a_moving_one_is():
    still, moving = _clip(0.0), _clip(2.0)
    dyn, scores = is_dynamic(still, 8.0, flows)
    assert not dyn and max(scores) < 0.1
    dyn, scores = is_dynamic(moving, 8.0, flows)
    assert dyn and np.median(scores) > 1.5  # threshold at 64 px: 1.5 px
    assert dynamic_degree([still, moving, _clip(2.0, seed=1)], 8.0, flows) == pytest.approx(2 / 3)


def test_raft_loads_from_a_file_and_gives_flows_of_the_enlarged_frames(tmp_path):
    import torch
    from torchvision.models.optical_flow import raft_small

    torch.manual_seed(0)
    torch.save(raft_small(weights=None).state_dict(), tmp_path / "raft_small.pth")
    model = load_raft(tmp_path / "raft_small.pth", "raft_small")
    flow = raft_flow_fn(model, updates=2)(_clip(2.0, frames=3))
    assert flow.shape == (2, 128, 192, 2) and np.isfinite(flow).all()  # 64 x 96 enlarged twice
    with pytest.raises(ValueError, match="raft_small.pth: not a raft_large state dict"):
        load_raft(tmp_path / "raft_small.pth", "raft_large")
    with pytest.raises(ValueError, match="not one of"):
        load_raft(tmp_path / "raft_small.pth", "raft_huge")


def _blob(xs, h: int = 64, w: int = 96) -> np.ndarray:
    """A smooth Gaussian blob (sigma 6 px) on a coloured background at horizontal positions ``xs``."""
    yy, xx = np.mgrid[0:h, 0:w]
    frames = []
    for x in xs:
        g = np.exp(-((xx - x) ** 2 + (yy - h / 2) ** 2) / (2 * 6.0**2))
        frames.append(np.clip(np.stack([40 + 200 * g, 60 + 150 * g, 200 - 150 * g], -1), 0, 255).astype(np.uint8))
    return np.stack(frames)


def test_motion_smoothness_known_answers():
    flow, blend = interpolator("flow", flows), interpolator("blend")
    still = _blob([40.0] * 9)
    assert motion_smoothness(still, flow) == 1.0 and motion_smoothness(still, blend) == 1.0
    # a clip made by interpolation: every odd frame the mean of its neighbours -> blend predicts it exactly
    made = _clip(2.0, frames=17)
    made[1::2][:8] = interpolator("blend")(made[0::2])
    assert motion_smoothness(made, blend) == 1.0
    # constant motion: the flow interpolation predicts the dropped frames (the blend ghosts them) ...
    rng = np.random.default_rng(0)
    steady = _blob(20 + 3.0 * np.arange(17))
    assert motion_smoothness(steady, flow) > 0.999 > motion_smoothness(steady, blend)
    # ... and jitter or a shuffled frame order is less smooth, by both
    jitter = _blob(20 + 3.0 * np.arange(17) + rng.choice([-6.0, 6.0], 17))
    shuffled = steady[rng.permutation(17)]
    for interp in (flow, blend):
        assert motion_smoothness(steady, interp) > motion_smoothness(jitter, interp) > motion_smoothness(shuffled, interp)
    # by hand: frames 0, 255, 0 -> blend predicts 0 for 255, mean |diff| 255, score 0
    one = np.zeros((3, 4, 4, 3), np.uint8)
    one[1] = 255
    assert motion_smoothness(one, blend) == 0.0
    # an even frame count: the last frame has no right neighbour and is not scored
    assert motion_smoothness(np.concatenate([still, np.full_like(still[:1], 255)]), blend) == 1.0
    with pytest.raises(ValueError, match="at least 3 frames"):
        motion_smoothness(still[:2], blend)


def test_flow_interpolation_resizes_flows_of_enlarged_frames():
    """RAFT's flows come at the enlarged size: the interpolation scales them back to the frames'."""
    steady = _blob(20 + 3.0 * np.arange(9))

    def enlarged(frames):  # Farneback on frames enlarged twice: flows of twice the size and length
        import cv2

        big = np.stack([cv2.resize(f, (192, 128), interpolation=cv2.INTER_LINEAR) for f in frames])
        return flows(big)

    assert motion_smoothness(steady, interpolator("flow", enlarged)) > 0.998


def test_motion_settings_and_flow_function(tmp_path):
    import torch
    from torchvision.models.optical_flow import raft_small

    assert flow_function(MotionSettings()) is flows
    with pytest.raises(ValueError, match="benchmark.motion.raft .* is not set; fix"):
        MotionSettings(flow="raft_small").check()
    with pytest.raises(ValueError, match="not one of"):
        interpolator("amt")
    torch.manual_seed(0)
    torch.save(raft_small(weights=None).state_dict(), tmp_path / "raft_small.pth")
    fn = flow_function(MotionSettings(flow="raft_small", raft=str(tmp_path / "raft_small.pth"), updates=2))
    assert fn(_clip(2.0, frames=2)).shape == (1, 128, 192, 2)
