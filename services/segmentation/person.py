"""Person segmentation around MediaPipe's selfie segmentation networks (plain numpy).

The networks run on Triton (``selfie_segmentation``: 256x256, ``selfie_segmentation_landscape``:
144x256, RGB in 0..1, NHWC) and answer a person probability per pixel. These functions fit any
picture into a network input without distorting it (letterbox: scaled to fit, centred, the rest
padded by repeating the border) and bring the probability back to the picture's own size.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

SQUARE = ("selfie_segmentation", 256, 256)
LANDSCAPE = ("selfie_segmentation_landscape", 144, 256)


@dataclass(frozen=True)
class Letterbox:
    """Where a picture sits inside a network input: scale and offsets in network pixels."""

    model: str
    height: int
    width: int
    scale: float
    top: int
    left: int
    inner_height: int
    inner_width: int


def choose_model(shape: tuple[int, int]) -> tuple[str, int, int]:
    """The network whose input shape is closer to the picture's aspect ratio:
    (name, height, width). Wide pictures (w/h above ~1.33) get the landscape one."""
    h, w = shape
    return LANDSCAPE if w / h > np.sqrt(256 / 144) else SQUARE


def letterbox(rgb: np.ndarray) -> tuple[np.ndarray, Letterbox]:
    """Network input (``1 x H x W x 3`` float32 in 0..1) for a ``uint8`` RGB picture."""
    h, w = rgb.shape[:2]
    model, nh, nw = choose_model((h, w))
    scale = min(nh / h, nw / w)
    ih, iw = max(1, round(h * scale)), max(1, round(w * scale))
    top, left = (nh - ih) // 2, (nw - iw) // 2
    resized = cv2.resize(rgb[..., :3], (iw, ih), interpolation=cv2.INTER_AREA)
    padded = cv2.copyMakeBorder(
        resized, top, nh - ih - top, left, nw - iw - left, cv2.BORDER_REPLICATE
    )
    box = Letterbox(model, nh, nw, scale, top, left, ih, iw)
    return (padded.astype(np.float32) / 255.0)[None], box


def probability(output: np.ndarray, box: Letterbox, shape: tuple[int, int]) -> np.ndarray:
    """The network's ``(1, H, W, 1)`` output -> person probability ``(h, w)`` float in 0..1 at
    the picture's size (bilinear)."""
    p = np.asarray(output, np.float32).reshape(box.height, box.width)
    inner = p[box.top : box.top + box.inner_height, box.left : box.left + box.inner_width]
    h, w = shape
    return np.clip(cv2.resize(inner, (w, h), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)


def people(mask: np.ndarray, min_fraction: float = 0.002) -> list[np.ndarray]:
    """Separate people: 8-connected parts of ``mask`` (``bool``) covering at least
    ``min_fraction`` of the picture, largest first."""
    _, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), 8)
    order = np.argsort(-stats[1:, cv2.CC_STAT_AREA]) + 1
    floor = min_fraction * mask.size
    return [labels == i for i in order if stats[i, cv2.CC_STAT_AREA] >= floor]
