"""services.generation.decompose: roles recovered from designs our own engine renders, where
the truth is known (detections simulated from the drawn ink and the placed objects; the bench
measures it on real DetectText and SegmentObject output, bench/banners.py)."""

from __future__ import annotations

from pathlib import Path

import cv2
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
    set_lines = {p.role: [ln.text for ln in p.block.lines] for p in solved.placements if p.block}
    lines, truth = [], {}
    for layer in stack:
        if layer.role in set_lines and layer.name != "button":
            boxes = ink_lines(layer)
            texts = set_lines[layer.role]
            lines += [decompose.TextLine(b, t) for b, t in zip(boxes, texts, strict=True)]
            # What a viewer sees of the copy is its ink; of the button, the plate.
            if layer.role != "call_to_action":
                truth[layer.role] = [decompose.union(boxes)]
    truth["call_to_action"] = solved.boxes("call_to_action")
    truth["product"] = solved.boxes("product")
    truth["logo"] = solved.boxes("logo")
    # What a salient-object segmenter keeps: the products, the logo and the button's plate.
    alpha = np.zeros((height, width), np.float32)
    for layer in stack:
        if layer.role in ("product", "logo") or layer.name == "button":
            x0, y0, x1, y1 = layer.box
            alpha[y0:y1, x0:x1] = np.maximum(alpha[y0:y1, x0:x1], layer.rgba[..., 3] / 255.0)
    return rgb, truth, lines, alpha


@pytest.mark.parametrize("language", ["en", "zh"])
def test_roles_of_rendered_designs_are_recovered(fit, language):
    recovered, total = 0, 0
    for width, height in SIZES:
        rgb, truth, lines, alpha = design(fit, width, height, language)
        found = decompose.decompose(rgb, lines, alpha)
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
    left = [(10, 10, 200, 40), (10, 45, 55, 60)]
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


def test_objects_split_a_bridge_and_rejoin_a_product_cut_at_its_label():
    rgb = np.full((300, 400, 3), (240, 225, 225), np.uint8)
    alpha = np.zeros((300, 400), np.float32)
    alpha[50:250, 40:120] = alpha[50:250, 260:340] = 1.0  # two bottles
    alpha[180:210, 120:260] = 1.0  # a translucent shape behind both, taken as salient
    assert sorted(decompose.objects(rgb, alpha)) == [(40, 50, 120, 250), (260, 50, 340, 250)]
    # One bottle whose cream label the segmenter left out, and two stacked on the ground.
    alpha = np.zeros((300, 400), np.float32)
    alpha[20:120, 40:120] = alpha[150:280, 40:120] = 1.0
    rgb[120:150, 40:120] = (245, 240, 200)
    alpha[20:120, 260:340] = alpha[150:280, 260:340] = 1.0
    assert sorted(decompose.objects(rgb, alpha)) == [
        (40, 20, 120, 280),
        (260, 20, 340, 120),
        (260, 150, 340, 280),
    ]


def test_pieces_of_one_line_are_rejoined_and_a_word_mark_joins_its_logo():
    pieces = [decompose.TextLine((130, 164, 208, 181), "库存有限，")]
    pieces.append(decompose.TextLine((199, 164, 270, 183), "先到先得。"))
    assert decompose.rows(pieces) == [
        decompose.TextLine((130, 164, 270, 183), "库存有限，先到先得。")
    ]
    word = decompose.TextLine((171, 84, 323, 132), "ACME")
    headline = decompose.TextLine((378, 67, 900, 125), "Our biggest summer")
    found = decompose.logo([(55, 55, 154, 154)], [word, headline], 1080, 1080)
    assert found is not None and found[0] == (55, 55, 323, 154) and found[2] == [word]


def test_font_size_is_read_from_a_cjk_lines_width_not_its_padded_height():
    # A 300x250 design's detections: 23 px headline, 13 px subline whose box was padded
    # to 19 px high; by height they look one block, by width they are not.
    headline = decompose.TextLine((13, 157, 275, 180), "夏季大促，全场水瓶五折起")
    subline = decompose.TextLine((11, 190, 198, 209), "仅限本周，库存有限，先到先得。")
    assert 20 <= headline.em <= 24 and 11 <= subline.em <= 14
    assert [len(b) for b in decompose.blocks([headline, subline])] == [1, 1]


def test_a_logo_mid_edge_and_a_mark_the_segmenter_missed_are_found():
    assert decompose.near_corner((405, 54, 680, 154), 1080, 1920)  # top-center
    assert not decompose.near_corner((405, 500, 680, 600), 1080, 1920)
    rgb = np.full((600, 800, 3), (245, 240, 235), np.uint8)
    cv2.circle(rgb, (60, 60), 30, (240, 100, 40), -1)  # the mark, left out of the alpha
    word = decompose.TextLine((100, 45, 190, 75), "ACME")
    copy = decompose.TextLine((100, 300, 700, 360), "Our biggest summer sale")
    found = decompose.decompose(rgb, [word, copy], np.zeros((600, 800), np.float32))
    assert found.boxes("logo") == [(30, 30, 190, 91)]
    assert found.copy == {"headline": "Our biggest summer sale"}


def test_an_object_read_as_a_character_is_not_copy():
    rgb = np.full((600, 800, 3), (245, 240, 235), np.uint8)
    alpha = np.zeros((600, 800), np.float32)
    alpha[100:500, 500:650] = 1.0  # a bottle the text detector read as "1"
    misread = decompose.TextLine((505, 150, 645, 480), "1")
    copy = decompose.TextLine((40, 200, 400, 260), "Summer sale")
    found = decompose.decompose(rgb, [misread, copy], alpha)
    assert found.boxes("product") == [(500, 100, 650, 500)]
    assert found.copy == {"headline": "Summer sale"}


def test_a_label_on_a_product_is_not_the_button():
    rgb = np.full((600, 1000, 3), (245, 240, 235), np.uint8)
    alpha = np.zeros((600, 1000), np.float32)
    rgb[100:500, 100:300] = (40, 90, 180)  # a bottle ...
    rgb[250:330, 100:300] = (245, 238, 220)  # ... with a cream label reading "ViPro"
    alpha[100:500, 100:300] = 1.0
    rgb[400:460, 500:700] = (200, 160, 20)  # the button, an object of its own
    alpha[400:460, 500:700] = 1.0
    lines = [
        decompose.TextLine((150, 278, 250, 302), "ViPro"),  # set smaller than the button
        decompose.TextLine((530, 415, 670, 445), "Shop now"),
        decompose.TextLine((500, 100, 900, 160), "Summer Sale"),
    ]
    found = decompose.decompose(rgb, lines, alpha)
    assert found.boxes("call_to_action") == [(500, 400, 700, 460)]
    assert found.copy["call_to_action"] == "Shop now"
    assert found.boxes("product") == [(100, 100, 300, 500)]
