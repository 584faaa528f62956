"""Cut-out output forms from an image and its alpha matte (plain numpy).

Conventions: ``rgb`` is ``uint8`` ``(H, W, 3)``; ``alpha`` is ``float`` ``(H, W)`` in 0..1;
``foreground`` (optional) is the matting's foreground colour estimate, ``float`` RGB in 0..1.
RGBA outputs carry *straight* (not premultiplied) alpha, as PNG and WebP expect; where a
foreground estimate is given, the RGBA colour channels are that estimate, so compositing the
cut-out anywhere shows no fringe of the old background.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MASK_THRESHOLD = 0.5  # alpha at or above which a pixel belongs to the binary mask


@dataclass(frozen=True)
class Box:
    """Integer pixel rectangle: left, top, width, height."""

    x: int
    y: int
    width: int
    height: int


def to_uint8(values: np.ndarray) -> np.ndarray:
    """0..1 floats -> rounded ``uint8``."""
    return (np.clip(values, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def binary_mask(alpha: np.ndarray) -> np.ndarray:
    """``uint8`` mask, 255 where ``alpha >= 0.5``, else 0."""
    return np.where(alpha >= MASK_THRESHOLD, 255, 0).astype(np.uint8)


def colours(rgb: np.ndarray, foreground: np.ndarray | None) -> np.ndarray:
    """Colour channels of a cut-out: the foreground estimate when there is one, else the
    image's own pixels, as ``float`` 0..1."""
    return foreground if foreground is not None else rgb[..., :3].astype(np.float64) / 255.0


def rgba(rgb: np.ndarray, alpha: np.ndarray, foreground: np.ndarray | None = None) -> np.ndarray:
    """``uint8`` RGBA cut-out with straight alpha; fully transparent pixels are black."""
    a = np.clip(alpha, 0.0, 1.0)
    colour = to_uint8(colours(rgb, foreground))
    out = np.concatenate([colour, to_uint8(a)[..., None]], axis=2)
    out[out[..., 3] == 0, :3] = 0
    return out


def on_background(
    rgb: np.ndarray,
    alpha: np.ndarray,
    background: tuple[int, int, int] = (255, 255, 255),
    foreground: np.ndarray | None = None,
) -> np.ndarray:
    """``uint8`` RGB composite ``alpha * F + (1 - alpha) * background``."""
    a = np.clip(alpha, 0.0, 1.0)[..., None]
    bg = np.asarray(background, np.float64) / 255.0
    return to_uint8(a * colours(rgb, foreground) + (1.0 - a) * bg)


def bounding_box(alpha: np.ndarray) -> Box | None:
    """Smallest box holding every pixel whose alpha is not 0 once stored as ``uint8``
    (alpha >= 0.5 / 255); None when there is none."""
    ys, xs = np.nonzero(alpha >= 0.5 / 255.0)
    if ys.size == 0:
        return None
    x0, x1, y0, y1 = int(xs.min()), int(xs.max()) + 1, int(ys.min()), int(ys.max()) + 1
    return Box(x0, y0, x1 - x0, y1 - y0)


def crop_box(alpha: np.ndarray, margin_fraction: float = 0.0, margin_pixels: int = 0) -> Box | None:
    """The object's bounding box grown by a margin on each side, clipped to the image.

    Args:
        alpha: the matte.
        margin_fraction: margin as a fraction (0..1) of the box's width (left/right) and height
            (top/bottom).
        margin_pixels: margin in pixels (used when ``margin_fraction`` is 0).

    Returns:
        The box, or None when the matte is empty.
    """
    box = bounding_box(alpha)
    if box is None:
        return None
    if margin_fraction > 0:
        mx, my = round(box.width * margin_fraction), round(box.height * margin_fraction)
    else:
        mx = my = int(margin_pixels)
    h, w = alpha.shape
    x0, y0 = max(0, box.x - mx), max(0, box.y - my)
    x1, y1 = min(w, box.x + box.width + mx), min(h, box.y + box.height + my)
    return Box(x0, y0, x1 - x0, y1 - y0)


def crop(image: np.ndarray, box: Box) -> np.ndarray:
    """``image[box]`` (any number of channels)."""
    return image[box.y : box.y + box.height, box.x : box.x + box.width]
