"""Backgrounds made from a colour scheme when the caller gives none: a quiet gradient with a
soft light behind the products, dithered so it does not band, and a decoration layer of a few
translucent shapes kept away from the copy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from services.generation import colour

Box = tuple[int, int, int, int]
GRADIENT_LIGHTNESS = 7.0  # CIELAB L* from one end of the gradient to the other
GLOW_OPACITY = 0.35  # of the accent colour at the centre of the light behind a product
SHAPE_OPACITY = 0.16  # of the accent colour in a decoration shape


def gradient(
    width: int, height: int, scheme: colour.Scheme, focus: Sequence[Box], seed: int
) -> np.ndarray:
    """``uint8`` RGB ``(height, width, 3)``: the scheme's background colour as a gradient
    (lightness +-``GRADIENT_LIGHTNESS``/2 along a seeded direction), a soft accent-coloured
    light behind each ``focus`` box, and +-0.5 level noise before rounding against banding."""
    rng = np.random.default_rng(seed)
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    along = (xx / max(width, 1)) * np.cos(angle) + (yy / max(height, 1)) * np.sin(angle)
    along = (along - along.min()) / max(float(np.ptp(along)), 1e-6) - 0.5
    lab = colour.rgb_to_lab(scheme.background).astype(np.float32)
    shift = np.array([GRADIENT_LIGHTNESS / 2, 0, 0], np.float32)
    ends = np.stack([lab + shift, lab - shift])
    ends = colour.lab_to_rgb(ends).astype(np.float32)
    t = (along + 0.5)[..., None]
    rgb = ends[0] * (1 - t) + ends[1] * t
    accent = scheme.accent.astype(np.float32)
    for x0, y0, x1, y1 in focus:
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        radius = 0.75 * np.hypot(x1 - x0, y1 - y0)
        glow = GLOW_OPACITY * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * (radius / 2) ** 2))
        rgb += (accent - rgb) * glow[..., None]
    rgb += rng.uniform(-0.5, 0.5, rgb.shape).astype(np.float32)
    return np.clip(rgb + 0.5, 0, 255).astype(np.uint8)


def decoration(
    width: int, height: int, scheme: colour.Scheme, avoid: Sequence[Box], seed: int
) -> np.ndarray | None:
    """``uint8`` RGBA ``(height, width, 4)``: up to three translucent discs in the accent
    colour, centred on the canvas's corners and edges, none reaching into an ``avoid`` box
    (the copy); None when no disc fits."""
    rng = np.random.default_rng(seed + 1)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    short = min(width, height)
    spots = [(0, 0), (width, 0), (0, height), (width, height), (width / 2, 0), (width / 2, height)]
    rng.shuffle(spots)
    alpha = np.zeros((height, width), np.float32)
    placed = 0
    for cx, cy in spots:
        radius = short * rng.uniform(0.18, 0.32)
        if any(_disc_meets(cx, cy, radius, box) for box in avoid):
            continue
        inside = np.clip(radius - np.hypot(xx - cx, yy - cy) + 0.5, 0, 1)  # anti-aliased rim
        alpha = np.maximum(alpha, SHAPE_OPACITY * inside)
        placed += 1
        if placed == 3:
            break
    if not placed:
        return None
    rgba = np.empty((height, width, 4), np.uint8)
    rgba[..., :3] = scheme.accent
    rgba[..., 3] = np.round(alpha * 255).astype(np.uint8)
    return rgba


def _disc_meets(cx: float, cy: float, radius: float, box: Box) -> bool:
    """Whether a disc reaches into a box (nearest point of the box within the radius)."""
    nx, ny = np.clip(cx, box[0], box[2]), np.clip(cy, box[1], box[3])
    return bool(np.hypot(nx - cx, ny - cy) < radius)
