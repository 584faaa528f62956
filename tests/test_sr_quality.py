"""The project's fast SR against bicubic: Set5 (when ../shared/data is present) and synthetic."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from services.enhancement import luma_sr, nets, quality
from services.enhancement.train_sr import evaluate_set5
from tests.conftest import shared_data

# Measured with the committed weights (bench/results/train_sr.json): 37.02 / 33.15 / 30.87 dB
# against bicubic 33.64 / 30.39 / 28.42. The floors leave 0.2 dB of slack.
SET5_FLOORS = {2: 36.8, 3: 32.9, 4: 30.6}


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_set5_psnr_beats_bicubic_and_fsrcnn_level(scale):
    data = shared_data()
    mean = evaluate_set5(nets.load_sr(scale), data, scale)["mean"]
    assert mean["psnr"] >= SET5_FLOORS[scale], mean
    assert mean["psnr"] >= mean["psnr_bicubic"] + 2.0


def test_synthetic_edges_beat_bicubic():
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:96, 0:96].astype(np.float64)
    truth = 128 + 60 * np.sin(x / 5.0) * np.cos(y / 7.0) + rng.normal(0, 2, (96, 96))
    truth[30:60, 20:70] = 230
    truth = np.clip(truth, 0, 255).astype(np.uint8)
    rgb = np.repeat(truth[:, :, None], 3, axis=2)
    small = quality.imresize(rgb, 0.5)
    ours = luma_sr.upscale(luma_sr.torch_network(nets.load_sr(2)), small, 2)
    bicubic = np.clip(quality.imresize(small.astype(np.float64), 2.0), 0, 255)
    assert quality.psnr_y(ours, rgb, 2) > quality.psnr_y(bicubic.astype(np.uint8), rgb, 2) + 1.0


def test_bicubic_module_matches_matlab_imresize():
    x = np.random.default_rng(0).uniform(0, 255, (11, 14))
    for s in (2, 3, 4):
        ours = nets.BicubicUp(s)(torch.from_numpy(x).float()[None, None])[0, 0].numpy()
        assert np.abs(ours - quality.imresize(x, s)).max() < 1e-3


def test_weights_are_small_float32_state_dicts():
    for f in [nets.SR_WEIGHTS / f"weights_x{s}.pt" for s in (2, 3, 4)]:
        assert f.stat().st_size < 300_000, f
        state = torch.load(f, map_location="cpu", weights_only=True)
        assert all(v.dtype == torch.float32 for v in state.values()), f
