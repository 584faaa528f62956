"""What to erase: caller boxes and masks, grown to cover edges, and where captions and logos sit.

Plain functions on numpy arrays; the detections themselves come from the segmentation service.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import numpy as np

DEFAULT_DILATE = 4  # pixels: anti-aliased edges and glow around caller regions and people
TEXT_DILATE = 1  # pixels beyond a detected text line's halo (anti-aliasing)
HALO_FRACTION = 0.1  # text outlines and shadows reach about this fraction of the line height
CAPTION_BAND = 0.4  # captions sit in the bottom CAPTION_BAND of the frame (or the top 0.15)
CORNER = 0.2  # logos and watermarks sit within CORNER of the frame's sides from a corner


@dataclass(frozen=True)
class Rect:
    """An axis-aligned box in pixels, clipped to a frame: columns x0..x1-1, rows y0..y1-1."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def empty(self) -> bool:
        return self.x1 <= self.x0 or self.y1 <= self.y0


def clip_box(x: float, y: float, width: float, height: float, shape: tuple[int, int]) -> Rect:
    """The box ``(x, y, width, height)`` (pixels, may lie partly or wholly outside) clipped to
    a frame of ``shape`` (H, W); outward rounding, so a box covers every pixel it touches."""
    h, w = shape
    return Rect(
        int(np.clip(np.floor(x), 0, w)),
        int(np.clip(np.floor(y), 0, h)),
        int(np.clip(np.ceil(x + width), 0, w)),
        int(np.clip(np.ceil(y + height), 0, h)),
    )


def box_mask(rects: Iterable[Rect], shape: tuple[int, int]) -> np.ndarray:
    """``bool`` mask of the union of ``rects``."""
    mask = np.zeros(shape, bool)
    for r in rects:
        mask[r.y0 : r.y1, r.x0 : r.x1] = True
    return mask


def fill_enclosed(mask: np.ndarray) -> np.ndarray:
    """``mask`` with the regions it encloses (not connected to the border) filled."""
    outside = np.pad(~mask, 1, constant_values=True).astype(np.uint8)
    cv2.floodFill(outside, None, (0, 0), 2)
    return mask | (outside[1:-1, 1:-1] == 1)


def grow(mask: np.ndarray, pixels: int) -> np.ndarray:
    """``mask`` dilated by a disc of radius ``pixels`` (>= 0)."""
    if pixels <= 0 or not mask.any():
        return mask.copy()
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * pixels + 1, 2 * pixels + 1))
    return cv2.dilate(mask.astype(np.uint8), disc).astype(bool)


def is_caption(box: Rect, shape: tuple[int, int]) -> bool:
    """Whether a text box sits where captions do: centred horizontally (centre within the
    middle half) and in the bottom :data:`CAPTION_BAND` or the top 15 % of the frame."""
    h, w = shape
    centre_x, centre_y = (box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2
    centred = abs(centre_x - w / 2) <= w / 4
    return centred and (centre_y >= (1 - CAPTION_BAND) * h or centre_y <= 0.15 * h)


def in_corner(box: Rect, shape: tuple[int, int]) -> bool:
    """Whether a box lies wholly within :data:`CORNER` of a frame corner (horizontally and
    vertically), where station logos and watermarks are placed."""
    h, w = shape
    left, right = box.x1 <= CORNER * w, box.x0 >= (1 - CORNER) * w
    top, bottom = box.y1 <= CORNER * h, box.y0 >= (1 - CORNER) * h
    return (left or right) and (top or bottom)


def near_corner(box: Rect, shape: tuple[int, int]) -> bool:
    """Whether a detected text line is a corner logo: its centre within :data:`CORNER` of a
    frame corner and the line no larger than twice that in either direction (a detector's
    box is padded around the glyphs, so it may reach past the corner area)."""
    h, w = shape
    centre_x, centre_y = (box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2
    side = centre_x <= CORNER * w or centre_x >= (1 - CORNER) * w
    end = centre_y <= CORNER * h or centre_y >= (1 - CORNER) * h
    small = box.x1 - box.x0 <= 2 * CORNER * w and box.y1 - box.y0 <= 2 * CORNER * h
    return side and end and small
