"""Gaussian denoising around any sigma-conditioned network, one implementation for the
service (network on Triton), the training script and the quality tests (network in this
process, :func:`torch_network`), so what is measured is what is served.

Grey pictures (RGB with equal channels) are denoised as one plane; colour pictures per
channel, with one noise level for all (the median of the per-channel estimates when the
caller gives none). Inference is tiled with enough context that tiled equals whole.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from services.enhancement import quality, realesrgan

DenoiseNetwork = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""A denoiser: (``float32`` ``(N, 1, H, W)`` in [0, 1], noise sigma ``(N,)`` in [0, 1]) ->
``(N, 1, H, W)``."""

OVERLAP = 64
"""Context around a tile: the U-Net sees ~150 px; 64 px each side leaves tiled within
0.004/255 of whole-image inference (1000x1200, sigma 25)."""


def torch_network(model: torch.nn.Module) -> DenoiseNetwork:
    """A :data:`DenoiseNetwork` running ``model`` (e.g. ``nets.load_denoiser()``) here."""
    model = model.eval()

    @torch.inference_mode()
    def run(x: np.ndarray, sigma: np.ndarray) -> np.ndarray:
        return model(torch.from_numpy(x), torch.from_numpy(sigma)).numpy()

    return run


def planes(pixels: np.ndarray) -> np.ndarray:
    """The ``(H, W, C)`` planes to denoise: one for grey (``(H, W)`` or equal channels),
    else each colour channel; alpha is left out."""
    colour = np.asarray(pixels, np.float64)
    if colour.ndim == 2:
        return colour[:, :, None]
    colour = colour[:, :, :3]
    grey = np.all(colour[:, :, 0] == colour[:, :, 1]) and np.all(colour[:, :, 1] == colour[:, :, 2])
    return colour[:, :, :1] if grey else colour


def estimate_sigma(pixels: np.ndarray) -> float:
    """The noise sigma (0-255 scale) of a picture: the median of its planes' estimates
    (:func:`quality.estimate_noise_sigma`)."""
    found = planes(pixels)
    return float(
        np.median([quality.estimate_noise_sigma(found[:, :, c]) for c in range(found.shape[2])])
    )


def denoise(
    network: DenoiseNetwork,
    pixels: np.ndarray,
    sigma: float | None = None,
    tile: int = 0,
    overlap: int = OVERLAP,
) -> np.ndarray:
    """Remove Gaussian noise of ``sigma`` (0-255 scale; None estimates it) from ``(H, W)``,
    RGB or RGBA values in 0-255 (``uint8`` or float).

    Args:
        tile: input pixels per tile side; 0 runs the whole picture at once.
        overlap: context pixels around each tile.

    Returns:
        ``float64`` in 0-255 (not rounded), ``(H, W)`` for ``(H, W)`` input, else
        ``(H, W, 3)`` (the alpha of RGBA is the caller's to keep).
    """
    found = planes(pixels)
    level = estimate_sigma(pixels) if sigma is None else float(sigma)
    batch = np.ascontiguousarray(found.transpose(2, 0, 1)[:, None] / 255.0, np.float32)
    levels = np.full(len(batch), level / 255.0, np.float32)
    out = realesrgan.run_tiled(lambda x: network(x, levels), batch, 1, tile, overlap)
    clean = np.clip(out[:, 0], 0, 1).astype(np.float64).transpose(1, 2, 0) * 255.0
    if np.asarray(pixels).ndim == 2:
        return clean[:, :, 0]
    return np.repeat(clean, 3, axis=2) if clean.shape[2] == 1 else clean
