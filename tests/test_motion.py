"""Motion metrics (cinebrain.benchmark.motion): VBench's dynamic-degree rule on known answers, RAFT loading."""

from __future__ import annotations

import numpy as np
import pytest

from cinebrain.benchmark.motion import (
    dynamic_degree,
    dynamic_params,
    is_dynamic,
    load_raft,
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
