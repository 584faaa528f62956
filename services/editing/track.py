"""Where the things to erase are in every frame of a video, from detections on sampled frames.

Detection runs on one frame in :data:`DETECT_EVERY` (it is the slow part). A frame between two
samples is given the pixels found in both samples around it, each region grown by its own
margin: for text lines a halo covering outlines and shadows (captions stand still but may
change between samples), for people how far they may move between samples. Text that
appears between two samples and is gone by the next is missed; moving text (tickers,
credits) is not followed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from services.editing import erase

DETECT_EVERY = 6  # frames between detections
PERSON_MARGIN = 0.15  # a person moves at most this share of their height between samples
CORNER_TILE = 0.25  # corner tiles searched for logo text, as a share of the frame's sides
TILE_GAP = 16  # pixels of flat grey between tiles, so no detected line spans two of them


@dataclass(frozen=True)
class Region:
    """A detected region of a sampled frame: its box, its pixels inside the box (``bool``, the
    box's size), its label ("subtitle", "text", "logo", "person") and the margin in pixels
    it is grown by in the frames around the sample."""

    rect: erase.Rect
    pixels: np.ndarray
    label: str
    margin: int


def text_regions(
    strokes: np.ndarray, rects: list[tuple[erase.Rect, str]], dilate: int
) -> list[Region]:
    """Text lines of one sampled frame with their strokes, from a detector's glyph-stroke
    mask, each with a margin of :data:`erase.HALO_FRACTION` of its height (outlines and
    shadows) plus ``dilate`` pixels. A line's strokes are those within its box grown by that
    margin (its region's ``rect``); lines with no stroke pixel are dropped."""
    found = []
    for rect, label in rects:
        if rect.empty:
            continue
        halo = round(erase.HALO_FRACTION * (rect.y1 - rect.y0)) + dilate
        # A detector's box may cut the last letter's edge: strokes within the halo count.
        rect = erase.clip_box(
            rect.x0 - halo,
            rect.y0 - halo,
            rect.x1 - rect.x0 + 2 * halo,
            rect.y1 - rect.y0 + 2 * halo,
            strokes.shape,
        )
        inside = strokes[rect.y0 : rect.y1, rect.x0 : rect.x1]
        if inside.any():
            # A detector may take a caption's outline for its ink: what the outline
            # encloses (the letters' fill) is text too.
            found.append(Region(rect, erase.fill_enclosed(inside), label, halo))
    return found


def person_regions(mask: np.ndarray, rects: list[erase.Rect], dilate: int) -> list[Region]:
    """People of one sampled frame from a person mask and their boxes, each with a margin of
    :data:`PERSON_MARGIN` of their height plus ``dilate`` pixels; boxes with no mask pixel
    are dropped."""
    found = []
    for rect in rects:
        inside = mask[rect.y0 : rect.y1, rect.x0 : rect.x1]
        if not rect.empty and inside.any():
            margin = round(PERSON_MARGIN * (rect.y1 - rect.y0)) + dilate
            found.append(Region(rect, inside.copy(), "person", margin))
    return found


def region_mask(shape: tuple[int, int], regions: list[Region]) -> np.ndarray:
    """The pixels of ``regions`` in a frame of ``shape``, each grown by its margin."""
    mask = np.zeros(shape, bool)
    for region in regions:
        r = region.rect
        grow = region.margin
        y0, x0 = max(0, r.y0 - grow), max(0, r.x0 - grow)
        y1, x1 = min(shape[0], r.y1 + grow), min(shape[1], r.x1 + grow)
        piece = np.zeros((y1 - y0, x1 - x0), bool)
        piece[r.y0 - y0 : r.y1 - y0, r.x0 - x0 : r.x1 - x0] = region.pixels
        mask[y0:y1, x0:x1] |= erase.grow(piece, grow)
    return mask


def caption_band(samples: list[list[Region]], shape: tuple[int, int]) -> tuple[int, int]:
    """Rows (top, bottom) of the band where captions were seen, grown by one caption height
    or a tenth of the frame, whichever is more; the frame's bottom 40 %
    (:data:`erase.CAPTION_BAND`) until any was seen."""
    h = shape[0]
    seen = [b.rect for sample in samples for b in sample if b.label == "subtitle"]
    if not seen:
        return round((1 - erase.CAPTION_BAND) * h), h
    # At least a fifth of the frame: a detector needs context around a thin band.
    margin = max(max(r.y1 - r.y0 for r in seen), round(0.1 * h))
    return max(0, min(r.y0 for r in seen) - margin), min(h, max(r.y1 for r in seen) + margin)


@dataclass(frozen=True)
class Tile:
    """A part of a frame placed in a mosaic: ``source`` in the frame, ``x``, ``y`` its
    top-left corner in the mosaic."""

    source: erase.Rect
    x: int
    y: int

    def to_frame(self, box: erase.Rect) -> erase.Rect:
        """``box`` (mosaic pixels) in the frame, clipped to the tile."""
        dx, dy = self.source.x0 - self.x, self.source.y0 - self.y
        s = self.source
        return erase.Rect(
            min(max(box.x0 + dx, s.x0), s.x1),
            min(max(box.y0 + dy, s.y0), s.y1),
            min(max(box.x1 + dx, s.x0), s.x1),
            min(max(box.y1 + dy, s.y0), s.y1),
        )

    def holds(self, box: erase.Rect) -> bool:
        """Whether the centre of ``box`` (mosaic pixels) is on this tile."""
        cx, cy = (box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2
        w, h = self.source.x1 - self.source.x0, self.source.y1 - self.source.y0
        return self.x <= cx < self.x + w and self.y <= cy < self.y + h


def corner_mosaic(rgb: np.ndarray) -> tuple[np.ndarray, list[Tile]]:
    """The four corners of a frame (:data:`CORNER_TILE` of each side) side by side in one
    picture, :data:`TILE_GAP` grey pixels apart: a detector then reads a sixth of the frame
    to find corner logos.

    Returns:
        (the mosaic, ``uint8`` RGB; its tiles).
    """
    h, w = rgb.shape[:2]
    th, tw = max(1, round(CORNER_TILE * h)), max(1, round(CORNER_TILE * w))
    mosaic = np.full((2 * th + TILE_GAP, 2 * tw + TILE_GAP, 3), 128, np.uint8)
    tiles = []
    for row, y0 in ((0, 0), (1, h - th)):
        for col, x0 in ((0, 0), (1, w - tw)):
            tile = Tile(
                erase.Rect(x0, y0, x0 + tw, y0 + th), col * (tw + TILE_GAP), row * (th + TILE_GAP)
            )
            mosaic[tile.y : tile.y + th, tile.x : tile.x + tw] = rgb[y0 : y0 + th, x0 : x0 + tw]
            tiles.append(tile)
    return mosaic, tiles
