"""A design as a stack of named layers: flattened to one picture, or written as a layered PSD
whose composite equals the flat picture.

Layers are straight-alpha ``uint8`` RGBA pieces placed at (left, top) on the canvas, bottom
first; the first layer is the opaque background. Compositing is Porter-Duff "over" in
8-bit sRGB, as Photoshop's Normal blending does, so the PSD opens the same in a second reader.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image
from psd_tools import PSDImage
from psd_tools.api.layers import PixelLayer


@dataclass(frozen=True)
class Layer:
    """One element's pixels.

    Attributes:
        name: the layer's name in the PSD, e.g. "headline" or "product 1".
        role: the element label reported for it ("background", "product", "logo",
            "headline", "subline", "call_to_action", "decoration", "underlay").
        rgba: ``uint8`` ``(h, w, 4)``, straight (not premultiplied) alpha.
        left, top: where its top-left pixel lands on the canvas (may lie outside; what falls
            outside is cut).
    """

    name: str
    role: str
    rgba: np.ndarray
    left: int = 0
    top: int = 0

    @property
    def box(self) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) of the layer on the canvas."""
        h, w = self.rgba.shape[:2]
        return (self.left, self.top, self.left + w, self.top + h)


def solid(name: str, role: str, rgb: Sequence[int], width: int, height: int) -> Layer:
    """An opaque layer of one colour covering a ``width`` x ``height`` canvas."""
    rgba = np.empty((height, width, 4), np.uint8)
    rgba[..., :3], rgba[..., 3] = np.asarray(rgb, np.uint8), 255
    return Layer(name, role, rgba)


def flatten(
    layers: Sequence[Layer],
    width: int,
    height: int,
    region: tuple[int, int, int, int] | None = None,
) -> np.ndarray:
    """The layers composited bottom first onto a ``width`` x ``height`` canvas, ``uint8``
    RGB. The canvas starts white; an opaque first layer covers it.

    Args:
        region: (x0, y0, x1, y1): composite only this part of the canvas and return it.

    Raises:
        ValueError: no layers.
    """
    if not layers:
        raise ValueError("a design needs at least one layer")
    rx0, ry0, rx1, ry1 = region or (0, 0, width, height)
    rx0, ry0, rx1, ry1 = max(rx0, 0), max(ry0, 0), min(rx1, width), min(ry1, height)
    canvas = np.full((max(ry1 - ry0, 0), max(rx1 - rx0, 0), 3), 255.0, np.float32)
    for layer in layers:
        x0, y0, x1, y1 = layer.box
        cx0, cy0, cx1, cy1 = max(x0, rx0), max(y0, ry0), min(x1, rx1), min(y1, ry1)
        if cx1 <= cx0 or cy1 <= cy0:
            continue
        piece = layer.rgba[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
        target = canvas[cy0 - ry0 : cy1 - ry0, cx0 - rx0 : cx1 - rx0]
        # Only the part a layer's ink covers is blended: copy, shadows and shapes leave most
        # of their box transparent.
        opacity = np.ascontiguousarray(piece[..., 3])
        left, top, w, h = cv2.boundingRect(opacity)  # of the non-zero pixels
        if not w:
            continue
        inked = slice(top, top + h), slice(left, left + w)
        piece, target = piece[inked], target[inked]
        if cv2.minMaxLoc(opacity[inked])[0] == 255:
            target[:] = piece[..., :3]
            continue
        alpha = cv2.cvtColor(opacity[inked], cv2.COLOR_GRAY2RGB)
        # target += (colour - target) * alpha / 255, in OpenCV's vectorised, threaded kernels
        change = cv2.subtract(cv2.cvtColor(piece, cv2.COLOR_RGBA2RGB), target, dtype=cv2.CV_32F)
        cv2.add(target, cv2.multiply(change, alpha, scale=1 / 255, dtype=cv2.CV_32F), dst=target)
    return cv2.convertScaleAbs(canvas)  # rounded and saturated to uint8


def psd(layers: Sequence[Layer], width: int, height: int) -> bytes:
    """A layered Photoshop document: one named pixel layer per :class:`Layer`, in order,
    with its composite image (what readers without layer support show; psd-tools composites
    it on save, equal to :func:`flatten` within rounding).

    Raises:
        ValueError: no layers.
    """
    document = PSDImage.new("RGB", (width, height))
    for layer in layers:
        x0, y0, x1, y1 = layer.box
        cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
        if cx1 <= cx0 or cy1 <= cy0:
            continue
        piece = layer.rgba[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
        image = Image.fromarray(np.ascontiguousarray(piece), "RGBA")
        document.append(PixelLayer.frompil(image, document, layer.name, cy0, cx0))
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()
