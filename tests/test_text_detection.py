"""segmentation.DetectText: text drawn on pictures is found, split, read back and masked.

The pictures are drawn here with Pillow's bundled TrueType font, so the truth (each word's box
and its glyph pixels) is exact.
"""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import grpc
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from services.segmentation import text
from tests.helpers import iou, png
from vipro.v1 import common_pb2, segmentation_pb2

Granularity = segmentation_pb2.TextGranularity
MaskMode = segmentation_pb2.TextMaskMode
FONT = ImageFont.load_default(size=36)
CJK_FONTS = [
    *Path("/usr/share/fonts").rglob("wqy-microhei.ttc"),
    *Path("/usr/share/fonts").rglob("NotoSansCJK-Regular.ttc"),
]


class Page:
    """A picture with lines of text drawn on it, and the truth about each word."""

    def __init__(self, size=(720, 400), paper=(236, 232, 224), ink=(25, 25, 30), seed=0):
        rng = np.random.default_rng(seed)
        base = np.array(paper, np.int16) + rng.integers(-6, 7, (size[1], size[0], 3))
        self.image = Image.fromarray(base.clip(0, 255).astype(np.uint8))
        self.glyphs = Image.new("L", size, 0)
        self.ink = ink
        self.words: list[tuple[str, tuple[float, float, float, float]]] = []

    def line(self, x: float, y: float, words: str, font=FONT) -> None:
        for draw, fill in (
            (ImageDraw.Draw(self.image), self.ink),
            (ImageDraw.Draw(self.glyphs), 255),
        ):
            draw.text((x, y), words, font=font, fill=fill)
        offset = 0.0
        for word in words.split(" "):
            left, top, right, bottom = font.getbbox(word)
            self.words.append((word, (x + offset + left, y + top, x + offset + right, y + bottom)))
            offset += font.getlength(word + " ")

    def pixels(self) -> np.ndarray:
        return np.asarray(self.image)

    def glyph_mask(self) -> np.ndarray:
        return np.asarray(self.glyphs) > 64


def detect(stub, pixels: np.ndarray, **fields) -> segmentation_pb2.DetectTextResponse:
    request = segmentation_pb2.DetectTextRequest(
        image=common_pb2.Image(inline=png(pixels)), **fields
    )
    return stub.DetectText(request, timeout=60)


def corners(region: segmentation_pb2.TextRegion) -> np.ndarray:
    return np.array([[p.x, p.y] for p in region.polygon.points], np.float32)


def box_corners(box: tuple[float, float, float, float]) -> np.ndarray:
    x0, y0, x1, y1 = box
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32)


def mask_of(reply: segmentation_pb2.DetectTextResponse) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(reply.mask.image.inline))) > 0


def two_paragraphs() -> Page:
    page = Page()
    page.line(40, 40, "Summer sale today")
    page.line(40, 90, "Free shipping on orders")
    page.line(40, 260, "Call 800 555 0199")
    return page


def test_lines_are_found_in_reading_order_and_read_back(segmentation):
    page = two_paragraphs()
    reply = detect(segmentation, page.pixels(), recognize=True, languages=["en"])
    assert reply.image_size.width == 720 and reply.image_size.height == 400
    assert [r.text for r in reply.regions] == [
        "Summer sale today",
        "Free shipping on orders",
        "Call 800 555 0199",
    ]
    lines = [page.words[0:3], page.words[3:7], page.words[7:11]]
    for region, words in zip(reply.regions, lines, strict=True):
        boxes = np.array([b for _, b in words])
        truth = box_corners((*boxes[:, :2].min(axis=0), *boxes[:, 2:].max(axis=0)))
        assert text.polygon_iou(corners(region), truth) >= 0.6
        assert region.polygon.score >= 0.5 and region.text_score >= 0.8
        assert region.language == "en" and abs(region.angle_degrees) < 3
        # The box bounds the polygon, and so the words (within 3 px).
        points = corners(region)
        assert region.box.x == pytest.approx(points[:, 0].min(), abs=1e-3)
        assert region.box.y + region.box.height == pytest.approx(points[:, 1].max(), abs=1e-3)
        assert region.box.x <= truth[0, 0] + 3 and region.box.y <= truth[0, 1] + 3
        assert region.box.x + region.box.width >= truth[2, 0] - 3
        assert region.box.y + region.box.height >= truth[2, 1] - 3


def test_words_are_split_at_spaces(segmentation):
    page = two_paragraphs()
    reply = detect(
        segmentation, page.pixels(), granularity=Granularity.TEXT_GRANULARITY_WORD, recognize=True
    )
    assert [r.text for r in reply.regions] == [w for w, _ in page.words]
    for region, (_, box) in zip(reply.regions, page.words, strict=True):
        assert text.polygon_iou(corners(region), box_corners(box)) >= 0.5, region


def test_words_without_recognition_still_split(segmentation):
    page = two_paragraphs()
    reply = detect(segmentation, page.pixels(), granularity=Granularity.TEXT_GRANULARITY_WORD)
    assert len(reply.regions) == len(page.words)
    assert all(r.text == "" and r.text_score == 0 for r in reply.regions)


def test_blocks_group_nearby_lines(segmentation):
    page = two_paragraphs()
    reply = detect(
        segmentation, page.pixels(), granularity=Granularity.TEXT_GRANULARITY_BLOCK, recognize=True
    )
    assert [r.text for r in reply.regions] == [
        "Summer sale today\nFree shipping on orders",
        "Call 800 555 0199",
    ]
    first = corners(reply.regions[0])
    assert first[:, 1].min() <= 45 and first[:, 1].max() >= 120


def test_region_and_stroke_masks(segmentation):
    page = two_paragraphs()
    glyphs = page.glyph_mask()
    regions = mask_of(detect(segmentation, page.pixels()))
    strokes = mask_of(
        detect(segmentation, page.pixels(), mask_mode=MaskMode.TEXT_MASK_MODE_STROKES)
    )
    assert regions.shape == strokes.shape == glyphs.shape
    # Both cover (nearly) every glyph pixel; the stroke mask hugs the glyphs.
    assert (regions & glyphs).sum() >= 0.98 * glyphs.sum()
    assert (strokes & glyphs).sum() >= 0.95 * glyphs.sum()
    assert iou(strokes, glyphs) >= 0.45
    assert strokes.sum() <= 0.6 * regions.sum()

    # Nothing far from the text: regions stay within a glyph height (DB grows text kernels by
    # about that much), strokes within a few pixels.
    def near(pixels: int) -> np.ndarray:
        kernel = np.ones((2 * pixels + 1, 2 * pixels + 1), np.uint8)
        return cv2.dilate(glyphs.astype(np.uint8), kernel).astype(bool)

    assert not (regions & ~near(36)).any() and not (strokes & ~near(4)).any()
    none = detect(segmentation, page.pixels(), mask_mode=MaskMode.TEXT_MASK_MODE_NONE)
    assert not none.HasField("mask") and len(none.regions) == 3


def test_light_text_on_dark_and_rotated_text(segmentation):
    page = Page(paper=(30, 40, 70), ink=(250, 240, 200))
    page.line(150, 180, "GRAND OPENING")
    rotated = page.image.rotate(-20, resample=Image.BICUBIC, fillcolor=(30, 40, 70))
    glyphs = np.asarray(page.glyphs.rotate(-20, resample=Image.BILINEAR)) > 64
    reply = detect(
        segmentation,
        np.asarray(rotated),
        recognize=True,
        mask_mode=MaskMode.TEXT_MASK_MODE_STROKES,
    )
    assert [r.text for r in reply.regions] == ["GRAND OPENING"]
    assert abs(reply.regions[0].angle_degrees - 20) <= 4
    strokes = mask_of(reply)
    assert (strokes & glyphs).sum() >= 0.9 * glyphs.sum() and iou(strokes, glyphs) >= 0.4


def test_a_picture_without_text_has_no_regions(segmentation):
    page = Page()
    reply = detect(segmentation, page.pixels(), recognize=True)
    assert len(reply.regions) == 0 and not mask_of(reply).any()


def test_min_score_one_drops_everything(segmentation):
    reply = detect(segmentation, two_paragraphs().pixels(), min_score=1.0)
    assert len(reply.regions) == 0


def test_unsupported_language_is_failed_precondition(segmentation):
    pixels = two_paragraphs().pixels()
    with pytest.raises(grpc.RpcError) as err:
        detect(segmentation, pixels, recognize=True, languages=["en", "ar"])
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "ar" in err.value.details()
    # Hints only matter when reading.
    assert len(detect(segmentation, pixels, languages=["ar"]).regions) == 3


def test_bad_images_are_invalid_argument(segmentation):
    for data in (b"", b"not an image", png(np.zeros((8, 8, 3), np.uint8))):
        with pytest.raises(grpc.RpcError) as err:
            segmentation.DetectText(
                segmentation_pb2.DetectTextRequest(image=common_pb2.Image(inline=data)), timeout=30
            )
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, data[:12]


@pytest.mark.skipif(not CJK_FONTS, reason="no CJK font installed (fonts-wqy-microhei or noto-cjk)")
def test_chinese_words_are_characters(segmentation):
    font = ImageFont.truetype(str(CJK_FONTS[0]), 40)
    page = Page()
    page.line(60, 120, "限时特价", font=font)
    reply = detect(
        segmentation, page.pixels(), granularity=Granularity.TEXT_GRANULARITY_WORD, recognize=True
    )
    assert [r.text for r in reply.regions] == list("限时特价")
    assert {r.language for r in reply.regions} == {"zh"}


# Algorithms alone -----------------------------------------------------------------------------


def test_a_line_is_read_past_its_end_up_to_the_next_box_on_its_row():
    line, neighbour, below = quad(0, 0, 200, 50), quad(210, 2, 400, 48), quad(0, 60, 100, 110)
    assert text.tails([line, neighbour, below], 0.4) == pytest.approx([0.2, 0.4, 0.4])
    longer = text.with_tail(line, 0.4)
    assert longer.min(axis=0).tolist() == [0, 0] and longer.max(axis=0).tolist() == [220, 50]


def test_reading_order_rows_then_columns():
    quad = lambda x, y: box_corners((x, y, x + 50, y + 20))  # noqa: E731
    quads = [quad(200, 12), quad(10, 100), quad(10, 10), quad(120, 8)]
    assert text.reading_order(quads) == [2, 3, 0, 1]


def test_word_spans_cut_at_wide_gaps_only():
    crop = np.full((30, 200, 3), 255, np.uint8)
    for x0, x1 in ((10, 40), (44, 70), (100, 150), (185, 195)):  # 4 px letter gap, 30/35 px gaps
        crop[8:22, x0:x1] = 0
    assert text.word_spans(crop) == [(10, 70), (100, 150), (185, 195)]
    assert text.word_spans(np.full((30, 200, 3), 255, np.uint8)) == []
    cells = text.word_spans(crop, characters=2)
    assert len(cells) == 2 and cells[0][0] == 10 and cells[-1][1] == 195


def test_language_by_script():
    assert text.language("限时特价 50%") == "zh"
    assert text.language("SALE 50%") == "en"
    assert text.language("2026") == ""
    assert text.is_cjk("新品上市 New") and not text.is_cjk("New arrivals 新")


def quad(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32)


def test_pieces_of_one_line_are_joined_and_neighbours_are_not():
    found = [
        (quad(938, 397, 1536, 496), 0.9),  # "on every" + the b of "bottle"
        (quad(1488, 388, 1858, 488), 0.7),  # "bottle"
        (quad(415, 988, 437, 1011), 0.6),  # a stray piece inside a line
        (quad(180, 935, 914, 1078), 0.8),
        (quad(20, 30, 90, 60), 0.9),  # a word mark 6 px before the headline
        (quad(96, 28, 330, 62), 0.9),
    ]
    joined = sorted(
        ((*c.min(axis=0).tolist(), *c.max(axis=0).tolist()), round(s, 2))
        for c, s in text.join_pieces(found)
    )
    assert joined == [
        ((20, 30, 90, 60), 0.9),
        ((96, 28, 330, 62), 0.9),
        ((180, 935, 914, 1078), 0.7),
        ((938, 388, 1858, 496), 0.8),
    ]
    dot = [(cv2.boxPoints(((420, 1000), (16, 16), 45)).astype(np.float32), 0.6)]
    assert len(text.join_pieces(found + dot)) == len(joined)  # a stray dot inside a line
    tilted = [(cv2.boxPoints(((200, 200), (300, 40), 20)).astype(np.float32), 0.9)]
    assert text.join_pieces(tilted + found[:1])[0][0].tolist() == tilted[0][0].tolist()
