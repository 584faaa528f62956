"""editing.convert: sizes and fit modes on known images."""

from __future__ import annotations

import numpy as np
import pytest

from services.editing.convert import crop, fit_image, target_size


def checker(h: int, w: int) -> np.ndarray:
    image = np.zeros((h, w, 3), np.uint8)
    image[: h // 2, : w // 2] = 255
    image[h // 2 :, w // 2 :] = 255
    return image


@pytest.mark.parametrize(
    ("size", "fit", "expected"),
    [
        ((100, 0), "contain", (100, 50)),
        ((0, 25), "contain", (50, 25)),
        ((100, 100), "contain", (100, 50)),
        ((100, 100), "cover", (200, 100)),
        ((30, 70), "stretch", (30, 70)),
        ((0, 0), "contain", (200, 100)),
    ],
)
def test_target_size(size, fit, expected):
    assert target_size(200, 100, *size, fit) == expected


def test_cover_crops_the_centre_to_the_exact_size():
    out = fit_image(checker(100, 200), 50, 50, "cover")
    assert out.shape == (50, 50, 3)
    # The centre 100x100 of the checker, halved: quadrants survive.
    assert out[5, 5].tolist() == [255, 255, 255] and out[5, 45].tolist() == [0, 0, 0]


def test_pad_centres_the_content_on_the_background():
    out = fit_image(checker(100, 200), 100, 100, "pad", background=(1, 2, 3))
    assert out.shape == (100, 100, 3)
    assert out[0, 50].tolist() == [1, 2, 3] and out[99, 50].tolist() == [1, 2, 3]
    assert out[25:75].min() < 10 and out[25:75].max() > 245


def test_pad_keeps_alpha_opaque_padding():
    rgba = np.zeros((10, 20, 4), np.uint8)
    out = fit_image(rgba, 20, 20, "pad")
    assert out.shape == (20, 20, 4) and out[0, 0, 3] == 255 and out[10, 10, 3] == 0


def test_downscale_preserves_mean_colour():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (400, 400, 3), dtype=np.uint8)
    out = fit_image(image, 100, 100, "stretch")
    assert abs(float(out.mean()) - float(image.mean())) < 1.0


def test_crop_clips_and_refuses_empty_boxes():
    image = checker(10, 10)
    assert crop(image, -5, -5, 8, 8).shape == (3, 3, 3)
    with pytest.raises(ValueError):
        crop(image, 20, 20, 5, 5)


def test_aspect_derived_sizes_are_capped():
    thin = np.zeros((1, 2000, 3), np.uint8)
    with pytest.raises(ValueError, match="at most 16384"):
        fit_image(thin, 0, 2000)
    with pytest.raises(ValueError):
        fit_image(np.zeros((1, 300, 3), np.uint8), 0, 300)


def test_cover_of_a_thin_image_crops_before_resizing():
    out = fit_image(np.zeros((1, 2000, 3), np.uint8), 2000, 2000, "cover")
    assert out.shape == (2000, 2000, 3)
