"""Static logos: overlays that stay put while the picture under them changes.

A station logo or a watermark keeps its edges at the same pixels in every frame, opaque or
semi-transparent, text or graphic; the scene's edges move with the camera and change at cuts.
:class:`EdgePersistence` reduces frames sampled over a video to the gradient each pixel keeps
in nearly all of them; :func:`find_logos` takes the parts of that map lying wholly in a corner
of the frame. A still camera on a still scene makes every edge persistent: nothing can then be
told apart from a logo, and none is reported (the caller gives its box instead).
"""

from __future__ import annotations

import cv2
import numpy as np

from services.editing import erase

SAMPLES = 24  # frames sampled over the video
KEEP = 5  # a logo edge is strong in all but KEEP - 1 of the SAMPLES (about 85 % of them)
EDGE = 40.0  # Sobel 3x3 gradient (grey levels) a persistent edge keeps in one direction
STILL_SCENE = 0.1  # more of the frame outside the corners persistent than this: a still scene
MIN_AREA = 2e-4  # smallest logo, as a share of the frame
CLOSING = 0.01  # logo parts closer than this share of the frame width are one logo
ACROSS = 0.2  # a logo's edges persist in both directions, each at this share of them at least


class EdgePersistence:
    """Per-pixel horizontal and vertical gradient magnitudes kept by nearly all frames added:
    the :data:`KEEP`-th smallest over them, in bounded memory (2 x ``KEEP`` ``uint16`` planes
    of the frame size).

    Args:
        shape: frame (height, width).
        keep: which smallest value is reported, >= 1; with fewer frames added than ``keep``
            the maps are all zero.
    """

    def __init__(self, shape: tuple[int, int], keep: int = KEEP):
        self.lowest = np.full((keep, *shape, 2), np.iinfo(np.uint16).max, np.uint16)
        self.added = 0

    def add(self, rgb: np.ndarray) -> None:
        """Add one ``uint8`` RGB frame of the shape given."""
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        gradient = [cv2.Sobel(grey, cv2.CV_16S, 1, 0), cv2.Sobel(grey, cv2.CV_16S, 0, 1)]
        value = np.abs(np.dstack(gradient)).astype(np.uint16)
        # One pass of insertion into the sorted planes keeps the smallest ``keep`` values.
        for plane in self.lowest:
            smaller = np.minimum(plane, value)
            np.maximum(plane, value, out=value)
            plane[...] = smaller
        self.added += 1

    def map(self) -> np.ndarray:
        """``float32`` H x W x 2: the horizontal and vertical gradient magnitudes (Sobel 3x3,
        grey levels) each pixel kept in nearly every frame."""
        if self.added < len(self.lowest):
            return np.zeros(self.lowest.shape[1:], np.float32)
        return self.lowest[-1].astype(np.float32)


def find_logos(persistence: np.ndarray) -> tuple[np.ndarray, list[erase.Rect]]:
    """Logos in a persistent-gradient map (:meth:`EdgePersistence.map`).

    Persistent edges closer than :data:`CLOSING` of the frame width are joined; joined parts
    lying wholly in a corner (:func:`erase.in_corner`), covering at least :data:`MIN_AREA`
    of the frame and with edges across both directions (at least :data:`ACROSS` of them
    persist horizontally and as many vertically: a scene's line lying along the camera's
    motion persists in one direction only) are logos, with what their edges enclose.
    Nothing is reported when more than :data:`STILL_SCENE` of the frame outside the corners
    has persistent edges (a still scene).

    Returns:
        (``bool`` mask of the logos, their boxes).
    """
    h, w = persistence.shape[:2]
    along_x, along_y = persistence[..., 0] > EDGE, persistence[..., 1] > EDGE
    strong = along_x | along_y
    corners = erase.box_mask(_corner_boxes((h, w)), (h, w))
    if strong[~corners].mean() > STILL_SCENE:
        return np.zeros((h, w), bool), []
    size = max(3, round(CLOSING * w) | 1)
    joined = cv2.morphologyEx(strong.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((size, size)))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(joined)
    mask, boxes = np.zeros((h, w), bool), []
    for label in range(1, count):
        x, y, bw, bh, _ = stats[label]
        box = erase.Rect(int(x), int(y), int(x + bw), int(y + bh))
        if not erase.in_corner(box, (h, w)) or bw * bh < MIN_AREA * h * w:
            continue
        part = labels[box.y0 : box.y1, box.x0 : box.x1] == label
        edges = part & strong[box.y0 : box.y1, box.x0 : box.x1]
        in_x = (edges & along_x[box.y0 : box.y1, box.x0 : box.x1]).sum()
        in_y = (edges & along_y[box.y0 : box.y1, box.x0 : box.x1]).sum()
        if min(in_x, in_y) >= ACROSS * edges.sum():
            mask[box.y0 : box.y1, box.x0 : box.x1] |= erase.fill_enclosed(part)
            boxes.append(box)
    return mask, boxes


def _corner_boxes(shape: tuple[int, int]) -> list[erase.Rect]:
    h, w = shape
    ch, cw = round(erase.CORNER * h), round(erase.CORNER * w)
    return [
        erase.Rect(0, 0, cw, ch),
        erase.Rect(w - cw, 0, w, ch),
        erase.Rect(0, h - ch, cw, h),
        erase.Rect(w - cw, h - ch, w, h),
    ]
