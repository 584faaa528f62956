"""Backgrounds made from a colour scheme when the caller gives none: a quiet gradient with a
soft light behind the products, dithered so it does not band, and a decoration layer of a few
translucent shapes kept away from the copy.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import cv2
import numpy as np

from services.generation import colour

Box = tuple[int, int, int, int]
GRADIENT_LIGHTNESS = 7.0  # CIELAB L* from one end of the gradient to the other
GLOW_OPACITY = 0.35  # of the accent colour at the centre of the light behind a product
SHAPE_OPACITY = 0.16  # of the accent colour in a decoration shape


WORK_SCALE = 4
"""Smooth fields (gradient, glow, discs) are computed at 1/WORK_SCALE of the canvas and
upsampled bilinearly: they hold no detail finer than that, and it is 16 times less work."""
_BAYER = np.array([[0, 8, 2, 10], [12, 4, 14, 6], [3, 11, 1, 9], [15, 7, 13, 5]], np.float32)
DITHER = (_BAYER + 0.5) / 16 - 0.5
"""Ordered dither in (-0.5, 0.5) levels, added before rounding so gradients do not band."""


def _grid(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Canvas coordinates (pixels) of the centres of the work-scale grid."""
    w, h = -(-width // WORK_SCALE), -(-height // WORK_SCALE)
    ys = (np.arange(h, dtype=np.float32) + 0.5) * height / h
    xs = (np.arange(w, dtype=np.float32) + 0.5) * width / w
    return np.meshgrid(xs, ys)


def _full(field: np.ndarray, width: int, height: int) -> np.ndarray:
    return cv2.resize(field, (width, height), interpolation=cv2.INTER_LINEAR)


def gradient(
    width: int, height: int, scheme: colour.Scheme, focus: Sequence[Box], seed: int
) -> np.ndarray:
    """``uint8`` opaque RGBA ``(height, width, 4)``: the scheme's background colour as a gradient
    (lightness +-``GRADIENT_LIGHTNESS``/2 along a seeded direction), a soft accent-coloured
    light behind each ``focus`` box, ordered-dithered against banding."""
    angle = np.random.default_rng(seed).uniform(0, 2 * np.pi)
    xx, yy = _grid(width, height)
    along = (xx / width) * np.cos(angle) + (yy / height) * np.sin(angle)
    t = ((along - along.min()) / max(float(np.ptp(along)), 1e-6))[..., None]
    lab = colour.rgb_to_lab(scheme.background).astype(np.float32)
    shift = np.array([GRADIENT_LIGHTNESS / 2, 0, 0], np.float32)
    ends = colour.lab_to_rgb(np.stack([lab + shift, lab - shift])).astype(np.float32)
    rgb = ends[0] * (1 - t) + ends[1] * t
    accent = scheme.accent.astype(np.float32)
    for x0, y0, x1, y1 in focus:
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        spread = 0.375 * np.hypot(x1 - x0, y1 - y0)
        glow = GLOW_OPACITY * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * spread**2))
        rgb += (accent - rgb) * glow[..., None]
    dithered = cv2.add(_full(rgb, width, height), _dither(width, height))
    return cv2.cvtColor(cv2.convertScaleAbs(dithered), cv2.COLOR_RGB2RGBA)  # rounds, saturates


@functools.lru_cache(maxsize=32)
def _dither(width: int, height: int) -> np.ndarray:
    """:data:`DITHER` tiled over a ``width`` x ``height`` canvas, three channels, float32."""
    tiled = np.tile(DITHER, (-(-height // 4), -(-width // 4)))[:height, :width]
    return cv2.cvtColor(np.ascontiguousarray(tiled), cv2.COLOR_GRAY2RGB)


def decoration(
    width: int, height: int, scheme: colour.Scheme, avoid: Sequence[Box], seed: int
) -> np.ndarray | None:
    """``uint8`` RGBA ``(height, width, 4)``: up to three translucent discs in the accent
    colour, centred on the canvas's corners and edges, none reaching into an ``avoid`` box
    (the copy); None when no disc fits."""
    rng = np.random.default_rng(seed + 1)
    xx, yy = _grid(width, height)
    short = min(width, height)
    spots = [(0, 0), (width, 0), (0, height), (width, height), (width / 2, 0), (width / 2, height)]
    rng.shuffle(spots)
    alpha = np.zeros(xx.shape, np.float32)
    placed = 0
    for cx, cy in spots:
        radius = short * rng.uniform(0.18, 0.32)
        if any(_disc_meets(cx, cy, radius, box) for box in avoid):
            continue
        # Anti-aliased rim, one work-scale cell wide.
        inside = np.clip((radius - np.hypot(xx - cx, yy - cy)) / WORK_SCALE + 0.5, 0, 1)
        alpha = np.maximum(alpha, SHAPE_OPACITY * inside)
        placed += 1
        if placed == 3:
            break
    if not placed:
        return None
    opacity = _full(np.round(alpha * 255).astype(np.uint8), width, height)
    return cv2.merge([*(np.full_like(opacity, c) for c in scheme.accent), opacity])


def _disc_meets(cx: float, cy: float, radius: float, box: Box) -> bool:
    """Whether a disc reaches into a box (nearest point of the box within the radius)."""
    nx, ny = np.clip(cx, box[0], box[2]), np.clip(cy, box[1], box[3])
    return bool(np.hypot(nx - cx, ny - cy) < radius)
