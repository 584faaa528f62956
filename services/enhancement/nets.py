"""Small torch networks for the enhancement family: super-resolution and Gaussian denoising.

Both models are trained by the project itself on T91 (``services/enhancement/train_sr.py`` and
``train_denoise.py``); their float32 ``state_dict`` files live next to the Triton model folders:

* ``deploy/triton/models/vipro_sr/1/weights_x{2,3,4}.pt`` -> :class:`SRNet`
* ``deploy/triton/models/vipro_denoise/1/weights.pt`` -> :class:`Denoiser`

Value ranges: every tensor image is ``float32`` ``(N, 1, H, W)`` scaled to 0..1 (a ``uint8``
value ``v`` is ``v / 255``). Noise levels are given on the same scale (``sigma / 255``).

:func:`load_sr` and :func:`load_denoiser` read the committed weights. The pictures around the
networks (colour, tiling, noise level) are prepared by :mod:`.luma_sr` and :mod:`.denoising`,
one implementation for the service, the training scripts and the tests.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from services.enhancement import quality

REPO = Path(__file__).resolve().parents[2]
SR_WEIGHTS = REPO / "deploy" / "triton" / "models" / "vipro_sr" / "1"
DENOISE_WEIGHTS = REPO / "deploy" / "triton" / "models" / "vipro_denoise" / "1" / "weights.pt"

__all__ = [
    "DenoiseConfig",
    "Denoiser",
    "SRConfig",
    "SRNet",
    "load_denoiser",
    "load_sr",
]


def _sym_pad(x: torch.Tensor, p: int) -> torch.Tensor:
    """Symmetric (MATLAB 'symmetric', edge repeated) padding of the last two dims by ``p``."""
    left, right = x[..., :, :p].flip(-1), x[..., :, -p:].flip(-1)
    x = torch.cat([left, x, right], dim=-1)
    top, bottom = x[..., :p, :].flip(-2), x[..., -p:, :].flip(-2)
    return torch.cat([top, x, bottom], dim=-2)


class BicubicUp(nn.Module):
    """Fixed MATLAB bicubic up-scaling by an integer factor (Keys, a = -0.5), no parameters.

    Output pixel ``i`` of an up-scaled row samples the input at ``(i + 0.5) / s - 0.5``, so each
    of the ``s`` phases is a 5-tap filter; the 2-D filters (outer products) form one 5x5 conv with
    ``s*s`` outputs followed by pixel shuffle. Matches :func:`quality.imresize` on float images
    exactly (symmetric border included).

    Input ``(N, 1, h, w)``; output ``(N, 1, s*h, s*w)``; linear, any value range.
    """

    def __init__(self, scale: int) -> None:
        super().__init__()
        self.scale = scale
        offsets = np.arange(-2, 3, dtype=np.float64)
        taps = []
        for r in range(scale):
            t = (r + 0.5) / scale - 0.5 - offsets  # distance from sample point to each tap
            w = quality._cubic(t)
            taps.append(w / w.sum())
        taps = np.stack(taps)  # (s, 5)
        k = np.einsum("ai,bj->abij", taps, taps).reshape(scale * scale, 1, 5, 5)
        self.register_buffer("kernel", torch.from_numpy(k).float(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        y = F.conv2d(_sym_pad(x.reshape(n * c, 1, h, w), 2), self.kernel)
        return F.pixel_shuffle(y, self.scale).reshape(n, c, h * self.scale, w * self.scale)


class SRConfig:
    """Hyper-parameters of :class:`SRNet` (kept with the weights' documentation)."""

    channels = 32
    layers = 7  # 3x3 convs in low-resolution space, including head and tail


class SRNet(nn.Module):
    """Efficient residual super-resolution net on the luma channel (ESPCN/FSRCNN family).

    All convolutions run at the *low* resolution: a 3x3 head conv (1 -> C), ``layers - 2``
    3x3 conv + ReLU body layers (C -> C) with a long feature skip, and a 3x3 tail conv producing
    ``s*s`` sub-pixel residual planes that pixel shuffle arranges into the high-resolution grid.
    The residual is added to a fixed MATLAB-bicubic up-scaling of the input (:class:`BicubicUp`),
    so an untrained net starts at the bicubic baseline and learns only the missing detail.

    Input: ``(N, 1, h, w)`` luma ``Y / 255`` (BT.601 studio range, 16..235 -> 0.063..0.922).
    Output: ``(N, 1, s*h, s*w)`` luma on the same scale, not clipped (clip to 0..1 yourself).
    Chroma is up-scaled bicubically by :func:`super_resolve`.
    """

    def __init__(self, scale: int, channels: int | None = None, layers: int | None = None):
        super().__init__()
        c = channels or SRConfig.channels
        n = layers or SRConfig.layers
        self.scale = scale
        self.head = nn.Conv2d(1, c, 3, padding=1)
        self.body = nn.Sequential(
            *[m for _ in range(n - 2) for m in (nn.Conv2d(c, c, 3, padding=1), nn.ReLU(True))]
        )
        self.tail = nn.Conv2d(c, scale * scale, 3, padding=1)
        self.up = BicubicUp(scale)
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        f = self.head(y)
        f = self.body(F.relu(f)) + f
        return F.pixel_shuffle(self.tail(f), self.scale) + self.up(y)


class DenoiseConfig:
    """Hyper-parameters of :class:`Denoiser`."""

    channels = 32  # at the first level; doubled at each of the two lower levels
    blocks = 2  # residual blocks per level and per direction


class _ResBlock(nn.Module):
    """``x + conv(relu(conv(x)))`` with 3x3 convolutions of ``c`` channels."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.a = nn.Conv2d(c, c, 3, padding=1)
        self.b = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.b(F.relu(self.a(x)))


class Denoiser(nn.Module):
    """Gaussian denoiser for gray images with a noise-level input: a small three-level U-Net
    in the FFDNet / DRUNet manner.

    The noisy image is split into four half-resolution sub-images (pixel unshuffle) and a
    constant noise-level plane is appended; a U-Net with ``C``, ``2C``, ``4C`` channels at 1/2,
    1/4 and 1/8 of the resolution (strided 2x2 convs down, transposed 2x2 convs up, additive
    skips, ``blocks`` residual blocks per level and direction) predicts the noise of the four
    sub-images, which pixel shuffle puts back; the output is ``noisy - predicted noise``. Most
    of the work runs at low resolution, which gives a receptive field of ~150 pixels for the
    cost of a 10-layer full-resolution CNN; the noise-level input lets one model cover
    sigma 0..50 (trained on 0..55), and :func:`quality.estimate_noise_sigma` supplies it when
    the caller does not know it (blind mode).

    Input: ``x`` ``(N, 1, H, W)`` noisy gray ``/ 255`` (any size; padded to a multiple of 8
    inside), ``sigma`` ``(N,)`` or scalar, noise standard deviation ``/ 255``.
    Output: ``(N, 1, H, W)`` denoised gray ``/ 255``, not clipped.
    """

    def __init__(self, channels: int | None = None, blocks: int | None = None):
        super().__init__()
        c = channels or DenoiseConfig.channels
        b = blocks or DenoiseConfig.blocks

        def stage(width: int) -> nn.Sequential:
            return nn.Sequential(*[_ResBlock(width) for _ in range(b)])

        self.head = nn.Conv2d(5, c, 3, padding=1)
        self.enc0, self.down1 = stage(c), nn.Conv2d(c, 2 * c, 2, stride=2)
        self.enc1, self.down2 = stage(2 * c), nn.Conv2d(2 * c, 4 * c, 2, stride=2)
        self.middle = stage(4 * c)
        self.up2, self.dec1 = nn.ConvTranspose2d(4 * c, 2 * c, 2, stride=2), stage(2 * c)
        self.up1, self.dec0 = nn.ConvTranspose2d(2 * c, c, 2, stride=2), stage(c)
        self.tail = nn.Conv2d(c, 4, 3, padding=1)
        nn.init.zeros_(self.tail.weight)  # starts as the identity: output = noisy input
        nn.init.zeros_(self.tail.bias)

    def forward(self, x: torch.Tensor, sigma: torch.Tensor | float) -> torch.Tensor:
        n, _, h, w = x.shape
        ph, pw = (-h) % 8, (-w) % 8
        xp = F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x
        s = torch.as_tensor(sigma, dtype=x.dtype, device=x.device).reshape(-1, 1, 1, 1)
        sub = F.pixel_unshuffle(xp, 2)
        level = s.expand(n, 1, sub.shape[2], sub.shape[3])
        f0 = self.enc0(self.head(torch.cat([sub, level], dim=1)))
        f1 = self.enc1(self.down1(f0))
        f2 = self.middle(self.down2(f1))
        g1 = self.dec1(self.up2(f2) + f1)
        g0 = self.dec0(self.up1(g1) + f0)
        noise = F.pixel_shuffle(self.tail(g0), 2)
        return (xp - noise)[..., :h, :w]


# ----------------------------------------------------------------------------- loading


def load_sr(scale: int, path: str | Path | None = None) -> SRNet:
    """:class:`SRNet` for ``scale`` with the committed weights (or ``path``), in eval mode.

    Width and depth are read from the state dict, so weights trained with other sizes load too.
    """
    p = Path(path) if path else SR_WEIGHTS / f"weights_x{scale}.pt"
    state = torch.load(p, map_location="cpu", weights_only=True)
    body = sum(1 for k in state if k.startswith("body.") and k.endswith(".weight"))
    model = SRNet(scale, channels=state["head.weight"].shape[0], layers=body + 2)
    model.load_state_dict(state)
    return model.eval()


def load_denoiser(path: str | Path | None = None) -> Denoiser:
    """:class:`Denoiser` with the committed weights (or ``path``), in eval mode.

    Width and blocks per stage are read from the state dict.
    """
    p = Path(path) if path else DENOISE_WEIGHTS
    state = torch.load(p, map_location="cpu", weights_only=True)
    blocks = sum(1 for k in state if k.startswith("enc0.") and k.endswith(".a.weight"))
    model = Denoiser(channels=state["head.weight"].shape[0], blocks=blocks)
    model.load_state_dict(state)
    return model.eval()
