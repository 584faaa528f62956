"""common.shots: hard cuts found at their exact frame on edited clips with known truth, and
not on the hazards detectors are known to take for cuts (flashes, fast pans, an object
crossing the frame, a change of light) nor inside gradual transitions."""

from __future__ import annotations

import numpy as np
import pytest

from bench.shot_scenes import edited_clip
from common import shots


@pytest.fixture(scope="module", params=[0, 1])
def clip(request):
    return edited_clip(request.param)


def test_every_cut_is_found_at_its_frame_and_nothing_else(clip):
    found = shots.detect(clip.frames, [shots.CutDetector()])
    truth = [t.start for t in clip.truth if t.kind == "cut"]
    assert [t.start for t in found] == truth
    assert all(t.kind == "cut" and t.start == t.end and t.score >= 27 for t in found)


def test_flashes_are_cuts_without_the_flash_filter(clip):
    found = {t.start for t in shots.detect(clip.frames, [shots.CutDetector(flash_frames=0)])}
    flashes = [frame for frame, kind in clip.hazards if kind == "flash"]
    assert flashes and all(frame in found for frame in flashes)


def test_a_fast_pan_is_far_by_content_and_near_once_the_camera_is_undone(clip):
    (frame, _), *_ = [h for h in clip.hazards if h[1] == "fast pan"]
    a, b = (shots.features(i, clip.frames[i]) for i in (frame, frame + 1))
    assert shots.aligned_distance(a, b) < 10 <= shots.content_distance(a, b)


def test_cuts_closer_than_the_shortest_shot_are_dropped():
    colours = [
        np.full((54, 96, 3), c, np.uint8) for c in ((200, 40, 40), (40, 200, 40), (40, 40, 200))
    ]
    frames = [colours[0]] * 10 + [colours[1]] * 3 + [colours[2]] * 10
    found = shots.detect(frames, [shots.CutDetector(flash_frames=0, min_shot_frames=5)])
    assert [t.start for t in found] == [10]
    found = shots.detect(frames, [shots.CutDetector(flash_frames=0, min_shot_frames=2)])
    assert [t.start for t in found] == [10, 13]


def test_identical_frames_are_at_distance_zero():
    frame = edited_clip(0, transitions=("cut",), hazards=("none",)).frames[0]
    a, b = shots.features(0, frame), shots.features(1, frame.copy())
    assert shots.content_distance(a, b) == 0 and shots.aligned_distance(a, b) < 1e-3
    assert a.hsv.shape == (54, 96, 3) and a.grey.shape == (54, 96)
