"""The project's fast super-resolution around any luma network: the network upscales luma
(BT.601 Y), chroma and alpha are upscaled bicubically.

One implementation serves every caller: the service passes a network on Triton, the
training script and the quality tests one in this process (:func:`torch_network`), so what is
measured is what is served. Inference is tiled (:func:`realesrgan.run_tiled`) so memory is
bounded by the tile, not the picture.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import torch

from services.enhancement import quality, realesrgan

LumaNetwork = Callable[[np.ndarray], np.ndarray]
"""A luma SR network: ``float32`` ``(N, 1, h, w)`` in [0, 1] -> ``(N, 1, s*h, s*w)``."""

MIN_SIDE = 8
"""Smallest side the network runs on: its reflection padding needs 2 pixels a side, so
smaller pictures are edge-padded to this and cropped after."""
OVERLAP = 16
"""Context around a tile: the luma nets' receptive field is 15 px, so tiled == whole."""


def torch_network(model: torch.nn.Module) -> LumaNetwork:
    """A :data:`LumaNetwork` running ``model`` (e.g. ``nets.load_sr(2)``) in this process."""
    return realesrgan.torch_network(model)


def upscale_luma(
    network: LumaNetwork, luma: np.ndarray, scale: int, tile: int = 0, overlap: int = OVERLAP
) -> np.ndarray:
    """Upscale an ``(H, W)`` luma plane (0-255, any dtype) by ``scale``.

    Args:
        network: the SR network for ``scale``.
        tile: input pixels per tile side; 0 runs the whole plane at once.
        overlap: context pixels around each tile.

    Returns:
        ``float64`` ``(scale*H, scale*W)`` luma in 0-255 (not rounded).
    """
    height, width = luma.shape
    x = (np.asarray(luma, np.float32) / 255.0)[None, None]
    grow = ((0, 0), (0, 0), (0, max(0, MIN_SIDE - height)), (0, max(0, MIN_SIDE - width)))
    out = realesrgan.run_tiled(network, np.pad(x, grow, mode="edge"), scale, tile, overlap)
    return np.clip(out[0, 0, : height * scale, : width * scale], 0, 1).astype(np.float64) * 255


def upscale(
    network: LumaNetwork, pixels: np.ndarray, scale: int, tile: int = 0, overlap: int = OVERLAP
) -> np.ndarray:
    """Upscale a ``uint8`` grey ``(H, W)``, RGB or RGBA picture by ``scale``.

    Grey pictures are luma; RGB goes through Y'CbCr (MATLAB-compatible conversion and bicubic
    chroma, as the published Set5 figures are measured); alpha is upscaled bicubically.

    Returns:
        ``uint8`` of the same layout, ``scale`` times the height and width.

    Raises:
        ValueError: not ``(H, W)``, ``(H, W, 3)`` or ``(H, W, 4)``.
    """
    if pixels.ndim == 2:
        y = upscale_luma(network, pixels, scale, tile, overlap)
        return np.clip(np.floor(y + 0.5), 0, 255).astype(np.uint8)
    if pixels.ndim != 3 or pixels.shape[2] not in (3, 4):
        raise ValueError(f"expected HxW, HxWx3 or HxWx4, got shape {pixels.shape}")
    ycc = quality.rgb_to_ycbcr(pixels[:, :, :3])
    y = upscale_luma(network, ycc[:, :, 0], scale, tile, overlap)
    chroma = quality.imresize(ycc[:, :, 1:].astype(np.float64), scale)
    out = quality.ycbcr_to_rgb(np.concatenate([y[:, :, None], chroma], axis=2))
    if pixels.shape[2] == 4:
        h, w = out.shape[:2]
        alpha = cv2.resize(pixels[:, :, 3], (w, h), interpolation=cv2.INTER_CUBIC)
        out = np.dstack([out, alpha])
    return out
