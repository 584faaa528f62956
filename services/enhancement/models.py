"""Builders of the enhancement networks served by Triton (``TorchModel`` ``builder`` parameter).

Each takes the model's version folder and returns a ``torch.nn.Module`` whose inputs and outputs
are the tensors of the model's config.pbtxt.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from services.enhancement import nets, realesrgan


def realesrgan_module(folder: Path, name: str) -> nn.Module:
    """A Real-ESRGAN network from the ncnn files ``<name>.param/.bin`` in `folder`:
    RGB ``(N, 3, h, w)`` in [0, 1] -> ``(N, 3, s*h, s*w)``."""
    module, _scale = realesrgan.build_model(name, folder)
    return module


class _ScaledSR(nn.Module):
    """The project's SR nets for every scale: (luma N x 1 x h x w, scale (1,)) -> luma."""

    def __init__(self, folder: Path, scales: tuple[int, ...]):
        super().__init__()
        self.nets = nn.ModuleDict(
            {str(s): nets.load_sr(s, folder / f"weights_x{s}.pt") for s in scales}
        )

    def forward(self, luma: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        return self.nets[str(int(scale.reshape(-1)[0]))](luma)


def vipro_sr_module(folder: Path, scales: tuple[int, ...] = (2, 3, 4)) -> nn.Module:
    """The project-trained fast SR (luma, 0..1) for scales 2, 3 and 4 in one model."""
    return _ScaledSR(folder, tuple(scales))


def vipro_denoise_module(folder: Path) -> nn.Module:
    """The project-trained denoiser: (gray N x 1 x H x W in 0..1, sigma (N,) in 0..1) -> gray."""
    return nets.load_denoiser(folder / "weights.pt")
