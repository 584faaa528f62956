"""Resize, crop and fit images: plain functions on numpy arrays."""

from __future__ import annotations

import cv2
import numpy as np

MAX_SIDE = 16384
"""Largest output side, pixels (the contract's limit)."""

MAX_PIXELS = 100_000_000
"""Largest output, pixels."""

FIT_CONTAIN = "contain"
FIT_COVER = "cover"
FIT_STRETCH = "stretch"
FIT_PAD = "pad"


def crop(pixels: np.ndarray, x: float, y: float, width: float, height: float) -> np.ndarray:
    """Crop a box in pixels, clipped to the image.

    Raises:
        ValueError: the clipped box is empty.
    """
    h, w = pixels.shape[:2]
    x0, y0 = max(round(x), 0), max(round(y), 0)
    x1, y1 = min(round(x + width), w), min(round(y + height), h)
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"crop box lies outside the {w}x{h} image")
    return pixels[y0:y1, x0:x1]


def target_size(src_w: int, src_h: int, width: int, height: int, fit: str) -> tuple[int, int]:
    """Size of the resized content (before padding or cropping), in pixels.

    A 0 width or height follows the aspect ratio from the other; both 0 keep the source size.
    """
    if width == 0 and height == 0:
        return src_w, src_h
    if width == 0:
        return max(1, round(src_w * height / src_h)), height
    if height == 0:
        return width, max(1, round(src_h * width / src_w))
    if fit == FIT_STRETCH:
        return width, height
    scale = (
        max(width / src_w, height / src_h)
        if fit == FIT_COVER
        else min(width / src_w, height / src_h)
    )
    return max(1, round(src_w * scale)), max(1, round(src_h * scale))


def resize(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize to exactly width x height: area averaging when shrinking, Lanczos when enlarging."""
    h, w = pixels.shape[:2]
    if (w, h) == (width, height):
        return pixels
    shrinking = width * height < w * h
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LANCZOS4
    return cv2.resize(pixels, (width, height), interpolation=interpolation)


def fit_image(
    pixels: np.ndarray,
    width: int,
    height: int,
    fit: str = FIT_CONTAIN,
    background: tuple[int, ...] = (255, 255, 255),
) -> np.ndarray:
    """Resize `pixels` (H, W, C uint8) towards width x height following `fit`.

    contain: fit inside, keep aspect (output may be smaller on one side); cover: fill and crop
    the centre to the exact size; stretch: exact size, aspect not kept; pad: contain, then pad
    to the exact size with `background` (RGB, or RGBA for 4-channel images).

    Raises:
        ValueError: the output would exceed MAX_SIDE on a side or MAX_PIXELS in all (a thin
            image stretched by its aspect ratio can ask for a huge one).
    """
    src_h, src_w = pixels.shape[:2]
    if width and height and fit == FIT_COVER:
        # Crop the source to the target's aspect ratio first: no oversized intermediate.
        keep_w = min(src_w, max(1, round(src_h * width / height)))
        keep_h = min(src_h, max(1, round(src_w * height / width)))
        x0, y0 = (src_w - keep_w) // 2, (src_h - keep_h) // 2
        pixels = pixels[y0 : y0 + keep_h, x0 : x0 + keep_w]
        new_w, new_h = width, height
    else:
        new_w, new_h = target_size(src_w, src_h, width, height, fit)
    if max(new_w, new_h) > MAX_SIDE or new_w * new_h > MAX_PIXELS:
        raise ValueError(
            f"output would be {new_w}x{new_h}; at most {MAX_SIDE} a side, {MAX_PIXELS} pixels"
        )
    out = resize(pixels, new_w, new_h)
    if width and height and fit == FIT_PAD:
        channels = out.shape[2]
        fill = np.array((*tuple(background), 255)[:channels], np.uint8)
        canvas = np.empty((height, width, channels), np.uint8)
        canvas[:] = fill
        x0, y0 = (width - new_w) // 2, (height - new_h) // 2
        canvas[y0 : y0 + new_h, x0 : x0 + new_w] = out
        out = canvas
    return np.ascontiguousarray(out)
