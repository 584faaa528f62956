"""Where text is in every frame of a video, from detections on sampled frames.

Text detection runs on one frame in :data:`DETECT_EVERY` (it is the slow part). Captions stay
on screen for many frames but may change between two samples, so a frame between samples is
searched in the boxes of both samples around it; inside a box the glyphs are the pixels of the
text's own colour (measured on the detected strokes), grown by a halo that covers outlines and
shadows. A caption that appears between two samples and is gone by the next is missed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from services.editing import erase

DETECT_EVERY = 6  # frames between text detections
COLOUR_TOLERANCE = 60.0  # RGB distance from the text colour still counted as glyph


@dataclass(frozen=True)
class TextBox:
    """A detected text line: its box, the glyphs' median colour (RGB) and label."""

    rect: erase.Rect
    colour: np.ndarray
    label: str


def text_boxes(
    rgb: np.ndarray, strokes: np.ndarray, rects: list[tuple[erase.Rect, str]]
) -> list[TextBox]:
    """Text boxes of one sampled frame with their glyph colour, from a detector's glyph-stroke
    mask; boxes with no stroke pixel are dropped."""
    found = []
    for rect, label in rects:
        inside = strokes[rect.y0 : rect.y1, rect.x0 : rect.x1]
        if rect.empty or not inside.any():
            continue
        colour = np.median(rgb[rect.y0 : rect.y1, rect.x0 : rect.x1][inside], axis=0)
        found.append(TextBox(rect, colour, label))
    return found


def glyph_mask(rgb: np.ndarray, boxes: list[TextBox], dilate: int) -> np.ndarray:
    """Pixels of ``rgb`` inside ``boxes`` that have their box's text colour, grown by the
    box's halo (:data:`erase.HALO_FRACTION` of its height) and ``dilate`` pixels."""
    mask = np.zeros(rgb.shape[:2], bool)
    for box in boxes:
        r = box.rect
        crop = rgb[r.y0 : r.y1, r.x0 : r.x1].astype(np.float32)
        near = np.linalg.norm(crop - box.colour, axis=2) <= COLOUR_TOLERANCE
        halo = round(erase.HALO_FRACTION * (r.y1 - r.y0)) + dilate
        piece = np.zeros(rgb.shape[:2], bool)
        piece[r.y0 : r.y1, r.x0 : r.x1] = near
        mask |= erase.grow(piece, halo)
    return mask


def caption_band(boxes: list[list[TextBox]], shape: tuple[int, int]) -> tuple[int, int]:
    """Rows (top, bottom) of the band where captions were seen, grown by one caption height;
    the frame's bottom 40 % (:data:`erase.CAPTION_BAND`) until any was seen."""
    h = shape[0]
    seen = [b.rect for sample in boxes for b in sample if b.label == "subtitle"]
    if not seen:
        return round((1 - erase.CAPTION_BAND) * h), h
    height = max(r.y1 - r.y0 for r in seen)
    return max(0, min(r.y0 for r in seen) - height), min(h, max(r.y1 for r in seen) + height)
