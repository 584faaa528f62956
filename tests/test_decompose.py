"""services.generation.decompose: roles recovered from designs our own engine renders, where
the truth is known (detections simulated from the drawn ink and the placed objects)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.banner_scenes import COPY, bottles, logo
from services.generation import colour, decompose, layers, layout, render
from services.generation.materials import tight
from tests.helpers import box_iou

LAYOUTS = Path(__file__).resolve().parents[1] / "deploy" / "layouts"
SIZES = [(1200, 628), (1080, 1080), (300, 250), (970, 250), (1080, 1920), (160, 600)]


def ink_lines(layer: layers.Layer) -> list[tuple[int, int, int, int]]:
    """Boxes of the lines of ink in a text layer (rows with ink, split at empty rows), as a
    text detector would outline them."""
    ink = layer.rgba[..., 3] > 60
    rows = np.flatnonzero(ink.any(axis=1))
    runs = np.split(rows, np.flatnonzero(np.diff(rows) > 1) + 1)
    boxes = []
    for run in runs:
        cols = np.flatnonzero(ink[run[0] : run[-1] + 1].any(axis=0))
        boxes.append(
            (layer.left + int(cols[0]), layer.top + int(run[0]),
             layer.left + int(cols[-1]) + 1, layer.top + int(run[-1]) + 1)
        )  # fmt: skip
    return boxes


def design(fit, width: int, height: int, language: str):
    """A design drawn by the engine, its true roles, and simulated detections."""
    pictures, brand_logo = bottles(), tight(logo())
    headline, subline, action = COPY[language]
    materials = layout.Materials.of(pictures, brand_logo, headline, subline, action)
    solved = layout.solve(layout.load_families(LAYOUTS), width, height, materials, fit)[0]
    brand = np.array([[40, 110, 200], [200, 60, 80]], np.uint8)
    stack = render.draw(
        solved, render.Assets(pictures, brand_logo, None, colour.harmony(brand), brand, 3)
    )
    rgb = layers.flatten(stack, width, height)
    copy = {"headline": headline, "subline": subline, "call_to_action": action}
    lines, truth = [], {}
    for layer in stack:
        if layer.role in copy and layer.name != "button":
            boxes = ink_lines(layer)
            texts = [copy[layer.role]] + [""] * (len(boxes) - 1)  # the copy on its first line
            lines += [decompose.TextLine(b, t) for b, t in zip(boxes, texts, strict=True)]
            # What a viewer sees of the copy is its ink; of the button, the plate.
            if layer.role != "call_to_action":
                truth[layer.role] = [decompose.union(boxes)]
    truth["call_to_action"] = solved.boxes("call_to_action")
    truth["product"] = solved.boxes("product")
    truth["logo"] = solved.boxes("logo")
    objects = solved.boxes("product") + solved.boxes("logo")
    return rgb, truth, lines, objects


@pytest.mark.parametrize("language", ["en", "zh"])
def test_roles_of_rendered_designs_are_recovered(fit, language):
    recovered, total = 0, 0
    for width, height in SIZES:
        rgb, truth, lines, objects = design(fit, width, height, language)
        found = decompose.decompose(rgb, lines, objects)
        for role, boxes in truth.items():
            guess = found.boxes(role)
            for box in boxes:
                total += 1
                recovered += any(box_iou(box, g) >= 0.7 for g in guess)
    assert recovered / total >= 0.9, (recovered, total)


def test_a_button_plate_is_found_and_plain_text_is_not_a_button():
    rgb = np.full((200, 400, 3), 245, np.uint8)
    rgb[120:170, 40:200] = (200, 60, 80)  # the plate
    for x in range(74, 170, 12):
        rgb[137:153, x : x + 5] = 255  # its label's strokes
    for x in range(40, 360, 16):
        rgb[30:70, x : x + 8] = 20  # a headline's strokes on the page
    label = decompose.TextLine((66, 132, 178, 158), "Shop now")
    found = decompose.plate(rgb, label)
    assert found is not None and found[0] == (40, 120, 200, 170)
    assert tuple(found[1]) == (200, 60, 80)
    assert decompose.plate(rgb, decompose.TextLine((36, 26, 364, 74), "Headline")) is None


def test_alignment_and_blocks():
    left = [(10, 10, 200, 40), (10, 45, 150, 60)]
    assert decompose.alignment(left, 4) == "start"
    assert decompose.alignment([(50, 10, 150, 40), (70, 45, 130, 60)], 4) == "center"
    lines = [decompose.TextLine(b, t) for b, t in zip(left, ["Big sale", "today"], strict=True)]
    lines.append(decompose.TextLine((10, 150, 100, 160), "small print"))
    grouped = decompose.blocks(lines)
    assert [len(b) for b in grouped] == [1, 1, 1]  # heights 30 and 15 differ: not one block
    assert (
        decompose.joined(
            [decompose.TextLine((0, 0, 1, 1), "夏季"), decompose.TextLine((0, 2, 1, 3), "大促")]
        )
        == "夏季大促"
    )
