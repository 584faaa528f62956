"""services/segmentation/cutout.py: every output form from an image and its matte."""

from __future__ import annotations

import numpy as np

from services.segmentation import cutout


def sample() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
    alpha = np.zeros((40, 60))
    alpha[10:30, 20:50] = 1.0
    alpha[10:30, 19] = 0.5
    alpha[9, 20:50] = 0.25
    fg = np.full((40, 60, 3), 0.5)
    return rgb, alpha, fg


def test_mask_is_binary_at_half():
    _, alpha, _ = sample()
    m = cutout.binary_mask(alpha)
    assert m.dtype == np.uint8 and set(np.unique(m)) == {0, 255}
    assert m[10, 19] == 255 and m[9, 25] == 0


def test_rgba_has_straight_alpha_and_the_foreground_estimate():
    rgb, alpha, fg = sample()
    out = cutout.rgba(rgb, alpha)
    assert out.shape == (40, 60, 4)
    assert np.array_equal(out[15, 25, :3], rgb[15, 25])  # not premultiplied
    assert out[10, 19, 3] == 128 and out[9, 25, 3] == 64
    assert (out[0, 0] == 0).all()  # transparent pixels carry no colour
    with_fg = cutout.rgba(rgb, alpha, fg)
    assert (with_fg[10, 19, :3] == 128).all()


def test_on_background_composites_with_the_matte():
    rgb, alpha, fg = sample()
    out = cutout.on_background(rgb, alpha, (0, 0, 255), fg)
    assert (out[0, 0] == [0, 0, 255]).all()
    assert (out[15, 25] == [128, 128, 128]).all()
    assert (out[10, 19] == [64, 64, 191]).all()  # 0.5 * 0.5 + 0.5 * bg, rounded


def test_crop_box_margins_are_clipped_to_the_image():
    _, alpha, _ = sample()
    tight = cutout.crop_box(alpha)
    assert tight == cutout.Box(19, 9, 31, 21)
    assert cutout.crop_box(alpha, margin_pixels=5) == cutout.Box(14, 4, 41, 31)
    assert cutout.crop_box(alpha, margin_fraction=1.0) == cutout.Box(0, 0, 60, 40)
    assert cutout.crop_box(np.zeros((5, 5))) is None
    assert cutout.crop(alpha, tight).shape == (21, 31)
