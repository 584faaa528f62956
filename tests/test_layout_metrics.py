"""Layout metrics: hand-computed answers on tiny layouts, and the papers' formulas written as
plain loops over pairs and pixels, against the vectorised module on random layouts."""

from __future__ import annotations

import math

import numpy as np
import pytest

from services.generation import layout_metrics as lm
from services.generation.layout_metrics import Element

SQUARE = (100, 100)


def test_overlap_of_two_boxes_is_their_iou_over_the_count():
    # Intersection 50, union 150: IoU 1/3, over the 2 elements; underlays are left out.
    layout = [
        Element("headline", (0, 0, 10, 10)),
        Element("logo", (5, 0, 15, 10)),
        Element("underlay", (0, 0, 15, 10)),
    ]
    assert lm.overlap(layout) == pytest.approx(1 / 6)
    assert lm.overlap(layout[:1]) == 0.0
    assert lm.overlap([Element("headline", (0, 0, 10, 10)), Element("logo", (20, 0, 30, 9))]) == 0


def test_elements_sharing_a_line_are_aligned():
    left_aligned = [Element("headline", (10, 10, 50, 20)), Element("subline", (10, 40, 80, 60))]
    assert lm.alignment(left_aligned, SQUARE) == 0.0


def test_non_alignment_is_minus_log_of_one_minus_the_nearest_line_distance():
    # Lines of A: 0.1 0.1 0.2 0.2 0.3 0.3; of B: 0.5 0.6 0.65 0.75 0.8 0.9; nearest: 0.4 (left).
    layout = [Element("headline", (10, 10, 30, 30)), Element("logo", (50, 60, 80, 90))]
    assert lm.alignment(layout, SQUARE) == pytest.approx(2 * -math.log10(0.6))
    assert lm.alignment(layout[:1], SQUARE) == 0.0


def test_an_underlay_wholly_under_a_text_is_effective():
    layout = [Element("underlay", (0, 0, 100, 50)), Element("headline", (10, 10, 90, 40))]
    assert lm.underlay_loose(layout) == 1.0
    assert lm.underlay_strict(layout) == 1.0


def test_an_underlay_under_part_of_a_text():
    half = [Element("button", (0, 0, 50, 50)), Element("call_to_action", (25, 10, 75, 40))]
    assert lm.underlay_loose(half) == pytest.approx(0.5)
    assert lm.underlay_strict(half) == 0.0
    # Beyond the right edge only: PosterLayout's test (which skips that edge) would count it.
    right = [Element("button", (0, 0, 50, 50)), Element("call_to_action", (10, 10, 60, 40))]
    assert lm.underlay_loose(right) == pytest.approx(0.8)
    assert lm.underlay_strict(right) == 0.0


def test_underlay_scores_are_undefined_without_an_underlay_and_zero_alone():
    assert math.isnan(lm.underlay_loose([Element("headline", (0, 0, 9, 9))]))
    assert math.isnan(lm.underlay_strict([]))
    assert lm.underlay_loose([Element("underlay", (0, 0, 9, 9))]) == 0.0
    assert lm.underlay_strict([Element("underlay", (0, 0, 9, 9))]) == 0.0


def test_validity_counts_elements_of_at_least_a_thousandth_of_the_canvas():
    # 100 x 100 canvas: at least 10 pixels, counted inside the canvas.
    layout = [
        Element("headline", (0, 0, 2, 2)),
        Element("logo", (0, 0, 5, 2)),
        Element("subline", (-10, -10, 2, 2)),
        Element("product", (0, 0, 1, 1)),  # not a layout element of the paper: not counted
    ]
    assert lm.validity(layout, SQUARE) == pytest.approx(1 / 3)
    assert lm.valid_elements(layout, SQUARE) == [layout[1]]
    assert lm.validity([], SQUARE) == 0.0


def salient_corner() -> np.ndarray:
    saliency = np.zeros(SQUARE)
    saliency[:50, :50] = 1.0
    return saliency


def test_an_element_on_the_salient_region_occludes_it():
    saliency = salient_corner()
    assert lm.occlusion([Element("logo", (0, 0, 50, 50))], saliency) == 1.0
    assert lm.occlusion([Element("logo", (25, 0, 75, 50))], saliency) == 0.5
    assert lm.occlusion([Element("logo", (50, 50, 100, 100))], saliency) == 0.0
    assert lm.occlusion([], saliency) == 0.0


def test_utility_is_the_covered_share_of_the_free_space_counted_once():
    saliency = salient_corner()  # 7500 free pixels
    assert lm.utility([Element("headline", (50, 50, 100, 100))], saliency) == pytest.approx(1 / 3)
    twice = [Element("headline", (50, 0, 100, 50)), Element("subline", (50, 0, 100, 100))]
    assert lm.utility(twice, saliency) == pytest.approx(2 / 3)
    assert lm.utility(twice, np.ones(SQUARE)) == 0.0


def test_text_over_a_flat_background_is_readable():
    flat = np.full((40, 60, 3), 200, np.uint8)
    assert lm.unreadability([Element("headline", (5, 5, 50, 30))], flat) == 0.0


def test_unreadability_is_the_normalised_gradient_under_the_text():
    # A vertical step at column 20: the Sobel response peaks (1 after normalising) on columns
    # 19 and 20 and is 0 elsewhere, so a text over columns 15..24 scores 2 / 10.
    step = np.zeros((20, 40, 3), np.uint8)
    step[:, 20:] = 255
    assert lm.unreadability([Element("headline", (15, 0, 25, 20))], step) == pytest.approx(0.2)
    # Under an underlay the text is not on the background.
    plated = [Element("headline", (15, 0, 25, 20)), Element("underlay", (18, 0, 22, 20))]
    assert lm.unreadability(plated, step) == 0.0


def test_text_over_noise_is_less_readable_than_over_a_gradient():
    rng = np.random.default_rng(0)
    picture = np.tile(np.linspace(0, 255, 80, dtype=np.uint8)[None, :, None], (60, 1, 3))
    picture[:, 40:] = rng.integers(0, 256, (60, 40, 3), dtype=np.uint8)
    smooth = lm.unreadability([Element("headline", (2, 10, 38, 50))], picture)
    noisy = lm.unreadability([Element("headline", (42, 10, 78, 50))], picture)
    assert noisy > 5 * smooth


def test_score_computes_every_published_metric_on_the_valid_elements():
    rng = np.random.default_rng(1)
    layout = [
        Element("headline", (10, 10, 60, 30)),
        Element("button", (5, 60, 40, 90)),
        Element("call_to_action", (10, 65, 35, 85)),
        Element("logo", (0, 0, 1, 1)),  # invalid: would break the alignment if kept
    ]
    scores = lm.score(layout, SQUARE, rng.random(SQUARE), np.zeros((*SQUARE, 3), np.uint8))
    assert set(scores) == set(next(iter(lm.PUBLISHED.values())))
    assert scores["validity"] == 0.75
    assert scores["alignment"] == lm.alignment(layout[:3], SQUARE)
    assert scores["underlay_strict"] == 1.0
    assert set(lm.score(layout, SQUARE)) == set(scores) - {"utility", "occlusion", "unreadability"}


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="unknown element labels"):
        lm.overlap([Element("title", (0, 0, 1, 1))])
    with pytest.raises(ValueError, match="saliency"):
        lm.score([], SQUARE, saliency=np.zeros((10, 10)))


# The definitions as plain loops (PosterLayout eval.py, with its quirks corrected as in the
# module), for comparison on random layouts.


def loop_iou(a, b):
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = w * h if w > 0 and h > 0 else 0.0
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def loop_overlap(layout):
    boxes = [e.box for e in layout if lm.CLASSES[e.label] != "underlay"]
    total = sum(loop_iou(boxes[i], boxes[j]) for i in range(len(boxes)) for j in range(i))
    return total / len(boxes)


def loop_alignment(layout, shape):
    h, w = shape
    lines = []
    for x0, y0, x1, y1 in (e.box for e in layout):
        x0, x1 = min(max(x0, 0), w) / w, min(max(x1, 0), w) / w
        y0, y1 = min(max(y0, 0), h) / h, min(max(y1, 0), h) / h
        lines.append((x0, y0, (x0 + x1) / 2, (y0 + y1) / 2, x1, y1))
    total = 0.0
    for i, a in enumerate(lines):
        nearest = min(abs(a[k] - b[k]) for j, b in enumerate(lines) if j != i for k in range(6))
        total += -math.log10(1 - nearest)
    return total


def loop_underlay(layout):
    underlays = [e.box for e in layout if lm.CLASSES[e.label] == "underlay"]
    others = [e.box for e in layout if lm.CLASSES[e.label] != "underlay"]
    loose = strict = 0.0
    for u in underlays:
        best = 0.0
        for e in others:
            w = min(u[2], e[2]) - max(u[0], e[0])
            h = min(u[3], e[3]) - max(u[1], e[1])
            inter = w * h if w > 0 and h > 0 else 0.0
            best = max(best, inter / ((e[2] - e[0]) * (e[3] - e[1])))
        loose += best
        inside = (u[0] <= e[0] and u[1] <= e[1] and u[2] >= e[2] and u[3] >= e[3] for e in others)
        strict += any(inside)
    return loose / len(underlays), strict / len(underlays)


def random_layout(rng, shape):
    h, w = shape
    labels = ["headline", "subline", "call_to_action", "logo", "underlay", "button"]
    layout = []
    for _ in range(rng.integers(2, 8)):
        x0, y0 = rng.uniform(0, w - 10), rng.uniform(0, h - 10)
        x1, y1 = rng.uniform(x0 + 5, w), rng.uniform(y0 + 5, h)
        layout.append(Element(str(rng.choice(labels)), (x0, y0, x1, y1)))
    return layout


@pytest.mark.parametrize("seed", range(20))
def test_vectorised_metrics_match_the_loop_definitions(seed):
    rng = np.random.default_rng(seed)
    shape = (75, 51)
    layout = lm.valid_elements(random_layout(rng, shape), shape)
    if sum(lm.CLASSES[e.label] != "underlay" for e in layout):
        assert lm.overlap(layout) == pytest.approx(loop_overlap(layout))
    if len(layout) > 1:
        assert lm.alignment(layout, shape) == pytest.approx(loop_alignment(layout, shape))
    if any(lm.CLASSES[e.label] == "underlay" for e in layout):
        loose, strict = loop_underlay(layout)
        assert lm.underlay_loose(layout) == pytest.approx(loose)
        assert lm.underlay_strict(layout) == strict

    saliency = rng.random(shape)
    covered = np.zeros(shape, bool)
    for x0, y0, x1, y1 in (e.box for e in layout):
        for y in range(round(y0), round(y1)):
            for x in range(round(x0), round(x1)):
                covered[y, x] = True
    if covered.any():
        assert lm.occlusion(layout, saliency) == pytest.approx(saliency[covered].mean())
    free = 1 - saliency
    assert lm.utility(layout, saliency) == pytest.approx(free[covered].sum() / free.sum())
