"""Static logo detection: persistent edges in a corner, against the drawn logo's pixels."""

from __future__ import annotations

import numpy as np
import pytest

from bench.video_scenes import make_clip
from services.editing import erase, static_logo


def logos(frames: np.ndarray) -> tuple[np.ndarray, list[erase.Rect]]:
    edges = static_logo.EdgePersistence(frames.shape[1:3])
    for i in np.linspace(0, len(frames) - 1, static_logo.SAMPLES).astype(int):
        edges.add(frames[i])
    return static_logo.find_logos(edges.map())


def test_persistence_keeps_the_kth_smallest_gradient():
    edges = static_logo.EdgePersistence((8, 8), keep=2)
    step = np.zeros((8, 8, 3), np.uint8)
    step[:, 4:] = 100
    edges.add(step)
    assert not edges.map().any()  # fewer frames than ``keep``: nothing is persistent yet
    for level in (50, 10, 200):
        frame = np.zeros_like(step)
        frame[:, 4:] = level
        edges.add(frame)
    # Sobel 3x3 across a step of ``level``: 4 x level at the two columns beside it, all of it
    # horizontal.
    assert edges.map()[4, 3, 0] == 4 * 50 and edges.map()[4, 3, 1] == 0
    assert not edges.map()[4, 0].any()


def test_a_line_along_the_camera_motion_is_not_a_logo():
    # Under a sideways pan a horizontal bar keeps its (vertical) gradient at the same pixels.
    frames = make_clip(9, (360, 640), 60, 30, (2.5, 0.0), logo=False).frames.copy()
    frames[:, 300:306, 20:110] = 255
    assert logos(frames)[1] == []


@pytest.mark.parametrize("emblem", [True, False], ids=["graphic", "text"])
@pytest.mark.parametrize("seed", [9, 10])
def test_a_semi_transparent_corner_logo_is_found(emblem, seed):
    clip = make_clip(seed, (360, 640), 60, 30, (2.5, 0.5), emblem=emblem)
    mask, boxes = logos(clip.frames)
    truth = clip.logo[0]
    assert len(boxes) == 1
    assert mask[truth].mean() >= 0.99
    # What is marked beyond the logo's pixels is at most what its outline encloses.
    assert (mask & ~erase.grow(truth, 3)).sum() <= 0.6 * truth.sum()


def test_captions_and_moving_scenes_are_not_logos():
    assert logos(make_clip(9, (360, 640), 60, 30, (2.5, 0.5), logo=False).frames)[1] == []


def test_a_still_scene_reports_nothing():
    # Every edge of a still shot persists: a logo cannot be told from the scene.
    assert logos(make_clip(9, (360, 640), 60, 30, (0.0, 0.0), emblem=True).frames)[1] == []
