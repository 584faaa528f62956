"""Synthetic product photos with exact alpha, for the segmentation tests and benchmarks.

A product (bottle, box, mug with an open handle, shoe-like blob, or several of them) is drawn
at 4x resolution and area-averaged down, so its alpha has true fractional edges; it is shaded
and labelled, then composited ``I = alpha * F + (1 - alpha) * B`` on a background of one of
the kinds in :data:`BACKGROUNDS` (with a soft contact shadow darkening B for the "shadow"
kind). In the "cluttered" kind the background is a defocused scene of large shapes of several
colours, which the product may share. Everything is seeded, so a (kind, seed) pair always
gives the same scene.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

STUDIO_BACKGROUNDS = (
    "white",
    "colour",
    "gradient",
    "shadow",
    "texture",
    "dark_on_white",
    "white_on_white",
)
BACKGROUNDS = (*STUDIO_BACKGROUNDS, "cluttered")


@dataclass
class Scene:
    """``image`` ``uint8`` RGB, ``alpha`` float 0..1 (the truth), ``foreground`` float RGB."""

    image: np.ndarray
    alpha: np.ndarray
    foreground: np.ndarray
    kind: str


def _shape_mask(kind: str, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Binary product silhouette at 4x resolution, centred-ish."""
    h, w = size
    m = np.zeros((h, w), np.uint8)
    cx, cy = int(w * rng.uniform(0.4, 0.6)), int(h * rng.uniform(0.45, 0.55))
    s = min(h, w)
    if kind == "bottle":
        bw, bh = int(s * 0.16), int(s * 0.32)
        cv2.rectangle(m, (cx - bw, cy - bh // 2), (cx + bw, cy + bh), 1, -1)
        cv2.ellipse(m, (cx, cy - bh // 2), (bw, bw // 2), 0, 0, 360, 1, -1)
        cv2.rectangle(m, (cx - bw // 3, cy - bh), (cx + bw // 3, cy - bh // 2), 1, -1)
    elif kind == "box":
        pts = np.array(
            [[-0.25, -0.2], [0.15, -0.3], [0.3, -0.15], [0.3, 0.25], [-0.1, 0.32], [-0.25, 0.2]]
        )
        cv2.fillPoly(m, [(pts * s + [cx, cy]).astype(np.int32)], 1)
    elif kind == "mug":
        r = int(s * 0.2)
        cv2.rectangle(m, (cx - r, cy - r), (cx + r, cy + r), 1, -1)
        cv2.ellipse(m, (cx + r, cy), (int(r * 0.55), int(r * 0.6)), 0, 0, 360, 1, -1)
        cv2.ellipse(m, (cx + r, cy), (int(r * 0.3), int(r * 0.35)), 0, 0, 360, 0, -1)
        cv2.rectangle(m, (cx - r + 2, cy - r), (cx + r - 2, cy + r), 1, -1)
    else:  # blob: a smooth random closed curve
        angles = np.linspace(0, 2 * np.pi, 16, endpoint=False)
        radii = s * rng.uniform(0.18, 0.3, 16)
        radii = np.convolve(np.r_[radii[-2:], radii, radii[:2]], np.ones(5) / 5, "valid")
        pts = np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], 1)
        cv2.fillPoly(m, [pts.astype(np.int32)], 1)
    return m


def _background(kind: str, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    if kind in ("white", "shadow", "dark_on_white"):
        return np.full((h, w, 3), rng.uniform(0.95, 1.0))
    if kind == "white_on_white":
        return np.full((h, w, 3), 0.99)
    if kind == "colour":
        return np.broadcast_to(rng.uniform(0.2, 0.9, 3), (h, w, 3)).copy()
    if kind == "gradient":
        a, b = rng.uniform(0.3, 1.0, 3), rng.uniform(0.3, 1.0, 3)
        t = (0.6 * x + 0.4 * y)[..., None] / 1.0
        return a * (1 - t) + b * t
    if kind == "cluttered":
        scene = np.broadcast_to(rng.uniform(0.1, 0.9, 3), (h, w, 3)).copy().astype(np.float32)
        for _ in range(6):
            centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            axes = (int(rng.integers(w // 8, w // 2)), int(rng.integers(h // 8, h // 2)))
            colour = tuple(float(c) for c in rng.uniform(0.05, 0.95, 3))
            cv2.ellipse(scene, centre, axes, float(rng.uniform(0, 180)), 0, 360, colour, -1)
        noise = cv2.GaussianBlur(rng.standard_normal((h, w, 3)).astype(np.float32), (0, 0), 3)
        return np.clip(cv2.GaussianBlur(scene, (0, 0), 10) + 0.05 * noise, 0, 1)
    # texture: fabric-like filtered noise around a colour
    base = rng.uniform(0.35, 0.8, 3)
    noise = rng.standard_normal((h, w, 3)).astype(np.float32)
    noise = cv2.GaussianBlur(noise, (0, 0), 2.0) * 0.35 + cv2.GaussianBlur(noise, (0, 0), 8) * 2
    return np.clip(base + 0.06 * noise, 0, 1)


def _product_colours(kind: str, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    x = np.mgrid[0:h, 0:w][1] / max(h, w)
    if kind == "dark_on_white":
        base = rng.uniform(0.03, 0.12, 3)
    elif kind == "white_on_white":
        base = np.full(3, 0.93)
    else:
        base = rng.uniform(0.05, 0.95, 3)
    shade = 0.85 + 0.3 * (0.5 - x)[..., None]  # light from the left
    colour = np.clip(base * shade, 0, 1)
    label = np.zeros((h, w), np.uint8)
    cv2.putText(label, "ViPro", (w // 3, h // 2), cv2.FONT_HERSHEY_SIMPLEX, h / 400, 1, 2)
    colour[label == 1] = 1.0 - base
    return colour


def make_scene(kind: str, seed: int = 0, size: tuple[int, int] = (384, 512)) -> Scene:
    """One synthetic product photo of background ``kind`` (see :data:`BACKGROUNDS`).

    Args:
        kind: background kind.
        seed: random seed (shape, colours, placement).
        size: (height, width) in pixels.
    """
    rng = np.random.default_rng([seed, BACKGROUNDS.index(kind)])
    h, w = size
    shape = ("bottle", "box", "mug", "blob")[int(rng.integers(0, 4))]
    big = _shape_mask(shape, (4 * h, 4 * w), rng).astype(np.float32)
    alpha = cv2.resize(big, (w, h), interpolation=cv2.INTER_AREA).astype(np.float64)
    foreground = _product_colours(kind, h, w, rng)
    background = _background(kind, h, w, rng)
    if kind in ("shadow", "white", "dark_on_white"):
        ys, xs = np.nonzero(alpha > 0.5)
        shadow = np.zeros((h, w), np.float32)
        bottom = int(ys.max())
        cv2.ellipse(
            shadow,
            (int(xs.mean()) + 10, bottom),
            (int((xs.max() - xs.min()) * 0.6), max(4, h // 30)),
            0,
            0,
            360,
            1.0,
            -1,
        )
        shadow = cv2.GaussianBlur(shadow, (0, 0), h / 60)
        strength = 0.45 if kind == "shadow" else 0.2
        background = background * (1 - strength * shadow[..., None])
    a = alpha[..., None]
    image = a * foreground + (1 - a) * background
    image = np.clip(image + rng.normal(0, 0.004, image.shape), 0, 1)
    return Scene((image * 255 + 0.5).astype(np.uint8), alpha, foreground, kind)


def make_multi_scene(seed: int = 0, size: tuple[int, int] = (384, 640)) -> Scene:
    """Two products side by side on a light gradient (for max_objects > 1)."""
    rng = np.random.default_rng([seed, 99])
    h, w = size
    left = make_scene("colour", seed, (h, w // 2))
    right = make_scene("colour", seed + 1, (h, w // 2))
    alpha = np.concatenate([left.alpha, right.alpha], axis=1)
    fg = np.concatenate([left.foreground, right.foreground], axis=1)
    bg = _background("gradient", h, w, rng) * 0.3 + 0.65
    a = alpha[..., None]
    image = np.clip(a * fg + (1 - a) * bg, 0, 1)
    return Scene((image * 255 + 0.5).astype(np.uint8), alpha, fg, "multi")
