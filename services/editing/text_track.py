"""Where text is in every frame of a video, from detections on sampled frames.

Text detection runs on one frame in :data:`DETECT_EVERY` (it is the slow part). Captions stand
still on screen for many frames but may change between two samples, so a frame between
samples is given the glyph strokes of both samples around it, grown by a halo that covers
outlines and shadows. A caption that appears between two samples and is gone by the next is
missed; moving text (tickers, credits) is not followed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from services.editing import erase

DETECT_EVERY = 6  # frames between text detections


@dataclass(frozen=True)
class TextBox:
    """A detected text line: its box, the glyph strokes inside it (``bool``, the box's size,
    enclosed parts filled) and its label."""

    rect: erase.Rect
    strokes: np.ndarray
    label: str


def text_boxes(strokes: np.ndarray, rects: list[tuple[erase.Rect, str]]) -> list[TextBox]:
    """Text boxes of one sampled frame with their strokes, from a detector's glyph-stroke
    mask; boxes with no stroke pixel are dropped."""
    found = []
    for rect, label in rects:
        inside = strokes[rect.y0 : rect.y1, rect.x0 : rect.x1]
        if not rect.empty and inside.any():
            # A detector may take a caption's outline for its ink: what the outline
            # encloses (the letters' fill) is text too.
            found.append(TextBox(rect, erase.fill_enclosed(inside), label))
    return found


def glyph_mask(shape: tuple[int, int], boxes: list[TextBox], dilate: int) -> np.ndarray:
    """The strokes of ``boxes`` in a frame of ``shape``, each grown by its halo
    (:data:`erase.HALO_FRACTION` of its height) plus ``dilate`` pixels."""
    mask = np.zeros(shape, bool)
    for box in boxes:
        r = box.rect
        grow = round(erase.HALO_FRACTION * (r.y1 - r.y0)) + dilate
        y0, x0 = max(0, r.y0 - grow), max(0, r.x0 - grow)
        y1, x1 = min(shape[0], r.y1 + grow), min(shape[1], r.x1 + grow)
        piece = np.zeros((y1 - y0, x1 - x0), bool)
        piece[r.y0 - y0 : r.y1 - y0, r.x0 - x0 : r.x1 - x0] = box.strokes
        mask[y0:y1, x0:x1] |= erase.grow(piece, grow)
    return mask


def caption_band(boxes: list[list[TextBox]], shape: tuple[int, int]) -> tuple[int, int]:
    """Rows (top, bottom) of the band where captions were seen, grown by one caption height
    or a tenth of the frame, whichever is more; the frame's bottom 40 %
    (:data:`erase.CAPTION_BAND`) until any was seen."""
    h = shape[0]
    seen = [b.rect for sample in boxes for b in sample if b.label == "subtitle"]
    if not seen:
        return round((1 - erase.CAPTION_BAND) * h), h
    # At least a fifth of the frame: a detector needs context around a thin band.
    margin = max(max(r.y1 - r.y0 for r in seen), round(0.1 * h))
    return max(0, min(r.y0 for r in seen) - margin), min(h, max(r.y1 for r in seen) + margin)
