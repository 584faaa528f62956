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


def scripted(many_at: range) -> shots.Scorer:
    """A stand-in for the network (windows in the detector's order: the k-th starts at frame
    50k - 25) that scores no frame as a transition and ``many_at`` as inside one."""
    calls = []

    def score(windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        first = 50 * len(calls) - 25
        calls.append(first)
        frames = np.arange(first, first + 100)
        many = np.isin(frames, list(many_at)).astype(np.float32) * 0.8
        return np.full((1, 100), 0.1, np.float32), many[None]

    return score


def test_a_dissolve_the_network_sees_only_as_inside_a_transition_is_found():
    clip = edited_clip(seed=1, transitions=("dissolve",), hazards=("none",))
    (truth,) = clip.truth
    middle = range(truth.start + 4, truth.end - 4)
    found = shots.detect(clip.frames, [shots.TransNetDetector(scripted(middle))])
    assert [(t.start, t.end, t.kind) for t in found] == [(middle.start, middle.stop, "gradual")]


def test_a_flash_scored_inside_a_transition_is_dropped():
    clip = edited_clip(seed=1, transitions=("cut",), hazards=("flash",))
    ((flash, _),) = [h for h in clip.hazards if h[0] < clip.truth[0].start]
    found = shots.detect(clip.frames, [shots.TransNetDetector(scripted(range(flash, flash + 3)))])
    assert found == []
