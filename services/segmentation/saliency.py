"""Salient objects in cluttered scenes: minimum barrier distance saliency + GrabCut.

The border colour model of :mod:`.commodity` needs a background that the image border shows
and the object does not share. Natural scenes break that: the object touches the border, the
background has many colours. There the object is found as the region *separated* from the
border rather than *coloured* unlike it: Zhang et al.'s minimum barrier distance (ICCV 2015),
per Lab channel, is the smallest "barrier" (highest minus lowest value) any path from the pixel
to the border must cross. Background pixels reach the border over smooth paths; object pixels
must cross the object's outline. The map's Otsu level seeds GrabCut
(:func:`grabcut_labels`).
"""

from __future__ import annotations

import cv2
import numba
import numpy as np

PASSES = 3  # raster scans (forward, backward, forward); Zhang et al. find 3 enough
SURE_FACTOR = 1.5  # saliency above SURE_FACTOR x the Otsu level is sure foreground
DOUBT_FACTOR = 0.5  # below DOUBT_FACTOR x the Otsu level is sure background
MIN_BARRIER = 15.0  # Lab units; a weaker separation from the border is noise or shading


@numba.njit(cache=True)
def minimum_barrier_distance(channel: np.ndarray, passes: int = PASSES) -> np.ndarray:
    """Approximate minimum barrier distance of every pixel to the image border.

    Raster scans propagate, along 4-connected paths, the highest and lowest value met on the
    best path so far; the distance is their difference.

    Args:
        channel: ``float64`` ``(H, W)``, any units.
        passes: number of alternating forward / backward scans, >= 1.

    Returns:
        ``float64`` ``(H, W)`` in the units of ``channel``; 0 on the border.
    """
    h, w = channel.shape
    distance = np.full((h, w), np.inf)
    high = channel.copy()
    low = channel.copy()
    distance[0, :] = distance[-1, :] = 0.0
    distance[:, 0] = distance[:, -1] = 0.0
    for p in range(passes):
        step = -1 if p % 2 == 0 else 1
        ys = range(1, h - 1) if step == -1 else range(h - 2, 0, -1)
        for y in ys:
            xs = range(1, w - 1) if step == -1 else range(w - 2, 0, -1)
            for x in xs:
                v = channel[y, x]
                for ny, nx in ((y + step, x), (y, x + step)):
                    top = max(high[ny, nx], v)
                    bottom = min(low[ny, nx], v)
                    if top - bottom < distance[y, x]:
                        distance[y, x] = top - bottom
                        high[y, x] = top
                        low[y, x] = bottom
    return distance


def saliency_map(image_lab: np.ndarray) -> np.ndarray:
    """Saliency of a float Lab image ``(H, W, 3)``: the sum of the channels' minimum barrier
    distances, smoothed (Gaussian, sigma 2 px); Lab units, >= 0."""
    lab = np.asarray(image_lab, np.float64)
    total = sum(minimum_barrier_distance(np.ascontiguousarray(lab[..., c])) for c in range(3))
    return cv2.GaussianBlur(total, (0, 0), 2.0)


def grabcut_labels(saliency: np.ndarray) -> np.ndarray | None:
    """GrabCut's initial labels from a saliency map (:func:`saliency_map`, Lab units).

    Relative to the map's maximum: above its Otsu level is probable foreground, above
    :data:`SURE_FACTOR` times it sure foreground, below :data:`DOUBT_FACTOR` times it sure
    background, probable background between. ``None`` when nothing stands out: the maximum is
    under :data:`MIN_BARRIER` or a sure class is empty.
    """
    peak = float(saliency.max())
    if peak < MIN_BARRIER:
        return None
    saliency = saliency / peak
    level, _ = cv2.threshold(
        np.round(saliency * 255).astype(np.uint8), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU
    )
    level /= 255.0
    labels = np.full(saliency.shape, cv2.GC_PR_BGD, np.uint8)
    labels[saliency >= level] = cv2.GC_PR_FGD
    labels[saliency >= min(0.99, SURE_FACTOR * level)] = cv2.GC_FGD
    labels[saliency < DOUBT_FACTOR * level] = cv2.GC_BGD
    if level <= 0 or not (labels == cv2.GC_FGD).any() or not (labels == cv2.GC_BGD).any():
        return None
    return labels
