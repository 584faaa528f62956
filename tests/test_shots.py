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


def test_a_fast_pan_scored_inside_a_transition_is_dropped():
    clip = edited_clip(seed=5, transitions=("cut",), hazards=("fast pan",))
    ((frame, _),) = [h for h in clip.hazards if h[0] < clip.truth[0].start]
    scored = scripted(range(frame - 3, frame + 3))
    assert shots.detect(clip.frames, [shots.TransNetDetector(scored)]) == []


def test_reports_a_frame_or_two_apart_are_one_transition():
    cut, again = shots.Transition(40, 40, "cut", 30.0), shots.Transition(41, 41, "cut", 0.9)
    assert shots.merge([again, cut]) == [cut]
    fade_out, fade_in = shots.Transition(20, 31, "gradual", 0.7), shots.Transition(33, 33, "cut")
    assert shots.merge([fade_in, fade_out]) == [shots.Transition(20, 33, "gradual", 0.7)]
    apart = shots.Transition(34, 34, "cut")
    assert shots.merge([fade_out, apart]) == [fade_out, apart]


@pytest.mark.parametrize(
    "turn",
    [
        lambda f: f,
        lambda f: f[:, :, ::-1],  # right to left
        lambda f: f.transpose(0, 2, 1, 3),  # top to bottom
        lambda f: f.transpose(0, 2, 1, 3)[:, ::-1],  # bottom to top
    ],
    ids=["left to right", "right to left", "top to bottom", "bottom to top"],
)
def test_a_wipe_is_found_within_two_frames_of_its_span(turn):
    clip = edited_clip(seed=2, transitions=("cut", "wipe"), hazards=("none",))
    wipe = clip.truth[1]
    found = shots.detect(np.ascontiguousarray(turn(clip.frames)), [shots.WipeDetector()])
    assert len(found) == 1 and found[0].kind == "gradual"
    assert abs(found[0].start - wipe.start) <= 2 and abs(found[0].end - wipe.end) <= 2


@pytest.mark.parametrize("seed", [0, 1])
def test_no_wipe_in_fast_pans_crossings_flashes_changes_of_light_cuts_or_dissolves(seed):
    clip = edited_clip(
        seed,
        transitions=("cut", "dissolve", "fade", "cut"),
        hazards=("fast pan", "crossing", "lighting", "flash", "fast pan"),
    )
    assert shots.detect(clip.frames, [shots.WipeDetector()]) == []


def test_a_shadow_sweeping_across_a_view_is_not_a_wipe():
    clip = edited_clip(seed=3, transitions=("cut",), hazards=("none",))
    frames = clip.frames[: clip.truth[0].start].astype(np.float32)
    across = np.arange(frames.shape[2])
    for k in range(20):  # a straight shadow edge crosses the view in 20 frames, like a wipe
        frames[20 + k] *= np.where(across < (k + 1) / 21 * len(across), 0.55, 1.0)[:, None]
    frames[40:] *= 0.55
    assert shots.detect(frames.astype(np.uint8), [shots.WipeDetector()]) == []


def test_the_wipe_detector_leaves_the_frames_it_shares_as_they_were():
    clip = edited_clip(seed=0, transitions=("wipe",), hazards=("none",))
    frames = [shots.features(i, rgb) for i, rgb in enumerate(clip.frames)]
    copies = [(f.grey.copy(), f.hsv.copy()) for f in frames]
    detector = shots.WipeDetector()
    found = [t for frame in frames for t in detector.push(frame)] + detector.flush()
    assert len(found) == 1
    assert all(
        np.array_equal(f.grey, g) and np.array_equal(f.hsv, h)
        for f, (g, h) in zip(frames, copies, strict=True)
    )
