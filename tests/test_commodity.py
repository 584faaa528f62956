"""services/segmentation/commodity.py on synthetic product photos with exact masks."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from bench.product_scenes import STUDIO_BACKGROUNDS, make_multi_scene, make_scene
from services.segmentation import commodity, saliency
from tests.conftest import shared_data
from tests.helpers import iou


def full_size(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    return cv2.resize(mask.astype(np.uint8), shape[::-1], interpolation=cv2.INTER_NEAREST) > 0


def centre_box(shape: tuple[int, int]) -> np.ndarray:
    """The trivial answer a broken method would give: the middle half of the picture."""
    h, w = shape
    box = np.zeros(shape, bool)
    box[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4] = True
    return box


@pytest.mark.parametrize("kind", STUDIO_BACKGROUNDS)
def test_main_product_on_every_studio_background_kind(kind):
    for seed in (0, 1):
        scene = make_scene(kind, seed)
        truth = scene.alpha >= 0.5
        segments, _ = commodity.segment_objects(scene.image)
        assert segments, kind
        found = full_size(segments[0].mask, truth.shape)
        assert iou(found, truth) >= 0.95, (kind, seed, iou(found, truth))
        assert iou(centre_box(truth.shape), truth) < 0.8  # the test can tell a trivial answer


@pytest.mark.slow
def test_cluttered_scenes_fall_back_to_barrier_saliency():
    # Multi-coloured defocused backgrounds that the product's colours may share: the border
    # colour model finds nothing there (median IoU 0 on these seeds), the saliency fallback does.
    found, trivial = [], []
    for seed in range(8):
        scene = make_scene("cluttered", seed)
        truth = scene.alpha >= 0.5
        segments, _ = commodity.segment_objects(scene.image)
        mask = full_size(segments[0].mask, truth.shape) if segments else np.zeros_like(truth)
        found.append(iou(mask, truth))
        trivial.append(iou(centre_box(truth.shape), truth))
    assert np.median(found) >= 0.75, found
    assert np.median(trivial) < 0.6


def test_minimum_barrier_distance_is_the_lowest_range_on_a_path_to_the_border():
    image = np.zeros((20, 20))
    image[5:10, 5:10] = 10.0  # an island: any path out crosses from 10 to 0
    image[12:20, 12:15] = 7.0  # touches the border: reachable with no barrier
    image[2:4, 14:18] = 3.0
    image[2, 15] = 5.0  # a path out of this pixel must meet 5 and 0 (or 3 and 5 ... 0)
    distance = saliency.minimum_barrier_distance(image)
    assert np.allclose(distance[5:10, 5:10], 10.0)
    assert np.allclose(distance[12:20, 12:15], 0.0)
    assert distance[2, 15] == pytest.approx(5.0)
    assert np.allclose(distance[image == 0], 0.0)


def test_cast_shadow_is_not_part_of_the_product():
    scene = make_scene("shadow", 2)
    segments, _ = commodity.segment_objects(scene.image)
    found = full_size(segments[0].mask, scene.alpha.shape)
    below = np.zeros_like(found)
    ys = np.nonzero(scene.alpha > 0.5)[0]
    below[ys.max() + 3 :] = True  # the shadow lies under the product
    assert (found & below).sum() < 0.002 * found.size


def test_two_products_are_two_objects():
    scene = make_multi_scene(0)
    segments, _ = commodity.segment_objects(scene.image)
    assert len(segments) >= 2
    truth = scene.alpha >= 0.5
    half = truth.shape[1] // 2
    masks = [full_size(s.mask, truth.shape) for s in segments[:2]]
    sides = sorted(int(m.nonzero()[1].mean() > half) for m in masks)
    assert sides == [0, 1]
    assert iou(masks[0] | masks[1], truth) >= 0.95
    assert all(0 <= s.score <= 1 for s in segments)


def test_plain_picture_has_no_object():
    flat = np.full((120, 160, 3), 200, np.uint8)
    flat += np.random.default_rng(0).integers(0, 3, flat.shape, dtype=np.uint8)
    segments, _ = commodity.segment_objects(flat)
    assert segments == []


def test_working_scale_is_reported():
    scene = make_scene("white", 0, size=(1024, 1536))
    segments, scale = commodity.segment_objects(scene.image)
    assert scale == pytest.approx(512 / 1536)
    assert segments[0].mask.shape == (341, 512)


@pytest.mark.slow
def test_product_smoke_images():
    d = shared_data("product_mask_smoke")
    scores = []
    for path in sorted(d.glob("*.png")):
        if path.stem.endswith("_mask"):
            continue
        image = np.asarray(Image.open(path).convert("RGB"))
        truth = np.asarray(Image.open(d / f"{path.stem}_mask.png").convert("L")) > 127
        segments, _ = commodity.segment_objects(image)
        found = np.zeros_like(truth)
        for s in segments:
            found |= full_size(s.mask, truth.shape)
        scores.append(iou(found, truth))
    # Two studio shots are cut out well; the third (dark products on a dark, curved set) is
    # not found by the background model (see README, segmentation figures).
    assert sorted(scores)[1] >= 0.95, scores
