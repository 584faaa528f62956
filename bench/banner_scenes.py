"""Banner materials for the generation tests and benchmarks: synthetic RGBA products, a logo
and copy in English and Chinese, short and long."""

from __future__ import annotations

import cv2
import numpy as np

from common.demo import demo_logo

COPY = {
    "en-short": ("Summer Sale", "Up to 50% off", "Shop now"),
    "en": ("Summer Sale on every bottle", "Up to 50% off all bottles this week only", "Shop now"),
    "en-long": (
        "Our biggest summer sale on every bottle",
        "Up to 50% off all bottles and flasks, this week only, while stocks last",
        "Shop the sale",
    ),
    "zh-short": ("夏季大促", "全场五折起", "立即抢购"),
    "zh": ("夏季大促，全场五折起", "仅限本周，先到先得。", "立即抢购"),
    "zh-long": ("夏季大促，全场水瓶五折起", "仅限本周，库存有限，先到先得。", "立即抢购"),
}
"""(headline, subline, call to action) by name."""


def bottle(width: int = 300, height: int = 700, rgb: tuple[int, int, int] = (40, 110, 200)):
    """A shaded bottle with a cream label, ``uint8`` RGBA on a transparent ground."""
    alpha = np.zeros((height, width), np.uint8)
    cx, body = width // 2, int(width * 0.45)
    shoulder = int(height * 0.35)
    cv2.rectangle(alpha, (cx - body, shoulder), (cx + body, height - 1), 255, -1)
    cv2.ellipse(alpha, (cx, shoulder), (body, int(height * 0.1)), 0, 180, 360, 255, -1)
    cv2.rectangle(alpha, (cx - body // 3, 0), (cx + body // 3, int(height * 0.3)), 255, -1)
    shade = np.clip(1 - np.abs(np.arange(width) - cx) / (1.4 * body), 0.35, 1)[None, :, None]
    pixels = (np.array(rgb, np.float32) * shade).repeat(height, 0).astype(np.uint8)
    label = (int(height * 0.55), int(height * 0.72))
    cv2.rectangle(pixels, (cx - body, label[0]), (cx + body, label[1]), (245, 240, 225), -1)
    return np.dstack([pixels, alpha])


def bottles() -> list[np.ndarray]:
    """Two bottles of different shapes and colours."""
    return [bottle(), bottle(300, 520, (200, 60, 80))]


def logo() -> np.ndarray:
    """The demo's logo (an orange disc and a word mark), ``uint8`` RGBA."""
    return demo_logo()


def on_white(rgba: np.ndarray, pad: int = 60) -> np.ndarray:
    """The bottle photographed on a plain light background (no alpha)."""
    h, w = rgba.shape[:2]
    canvas = np.full((h + 2 * pad, w + 2 * pad, 3), 235, np.uint8)
    a = rgba[..., 3:].astype(np.float32) / 255
    region = canvas[pad : pad + h, pad : pad + w]
    region[:] = (rgba[..., :3] * a + region * (1 - a)).astype(np.uint8)
    return canvas
