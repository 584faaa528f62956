"""EnhancementService capabilities: super-resolution and denoising on Triton-hosted models."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from common.admission import MemoryCost
from common.errors import InvalidArgument
from common.provider import CallContext, Provider, capability
from services.enhancement import quality, realesrgan
from vipro.v1 import common_pb2, enhancement_pb2

MAX_SIDE = 16384
AUTO_TILE = 512
"""Input tile of every Triton request (a bounded request bounds Triton's memory: one 4 MP
denoise in one piece took 2.9 GB in the model process)."""
SR_OVERLAP = 16
"""Context around an SR tile: the luma net's receptive field is 15 px (tiled == whole)."""
MIN_LUMA_SIDE = 8
"""Smallest picture side the luma SR net runs on (smaller ones are edge-padded to it)."""
DENOISE_OVERLAP = 64
"""Context around a denoise tile: the U-Net sees ~150 px; 64 px each side leaves tiled within
0.004/255 of whole-image inference (1000x1200, sigma 25)."""


@dataclass(frozen=True)
class SRModel:
    """A super-resolution model the capability offers.

    Attributes:
        triton: Triton model name; "{scale}" is replaced by the scale when it has one per scale.
        scales: scales the model produces natively.
        luma: True for the project's luma networks (chroma is upscaled bicubically).
    """

    triton: str
    scales: tuple[int, ...]
    luma: bool = False


SR_MODELS = {
    "vipro-fast": SRModel("vipro_sr", (2, 3, 4), luma=True),
    "RealESRGAN_x4plus": SRModel("realesrgan_x4plus", (4,)),
    "RealESRGAN_x4plus_anime_6B": SRModel("realesrgan_x4plus_anime", (4,)),
    "realesr-animevideov3": SRModel("realesr_animevideov3_x{scale}", (2, 3, 4)),
}
DEFAULT_SR_MODEL = "vipro-fast"


def _native_scale(model: SRModel, scale: int) -> int:
    """The scale to run the network at: the asked one when native, else the next larger."""
    if scale in model.scales:
        return scale
    return min((s for s in model.scales if s > scale), default=max(model.scales))


@capability(
    "enhancement.SuperResolve",
    version="1.0.0",
    models=("vipro_sr", "realesrgan_x4plus", "realesrgan_x4plus_anime", "realesr_animevideov3_x2"),
    memory=MemoryCost(per_pixel=225),  # per output pixel
)
def super_resolve(
    request: enhancement_pb2.SuperResolveRequest, ctx: CallContext
) -> enhancement_pb2.SuperResolveResponse:
    """Upscale 2x/3x/4x with the project's fast SR or Real-ESRGAN on Triton."""
    scale = request.scale or 4
    if scale < 2:
        raise InvalidArgument.field("scale", "must be 2, 3 or 4")
    name = request.model or DEFAULT_SR_MODEL
    model = SR_MODELS.get(name)
    if model is None:
        raise InvalidArgument.field("model", f"unknown model {name!r}; known: {sorted(SR_MODELS)}")
    pixels = ctx.read_image(request.image, "image", cost_pixels=lambda w, h: w * h * scale**2)
    height, width = pixels.shape[:2]
    if max(height, width) * scale > MAX_SIDE:
        raise InvalidArgument.field(
            "scale", f"{width}x{height} x{scale} exceeds {MAX_SIDE} pixels per side"
        )
    native = _native_scale(model, scale)
    triton_name = model.triton.format(scale=native)
    ctx.inference.require(triton_name)
    tile = max(request.tile_size, 32) if request.tile_size else AUTO_TILE
    with ctx.stage("infer"):
        if model.luma:
            out = _luma_upscale(ctx, triton_name, pixels, native)
        else:
            out = realesrgan.upscale(
                _triton_network(ctx, triton_name, native), pixels, native, tile=tile, overlap=16
            )
    if native != scale:
        with ctx.stage("resize"):
            out = cv2.resize(out, (width * scale, height * scale), interpolation=cv2.INTER_AREA)
    return enhancement_pb2.SuperResolveResponse(
        image=ctx.image_output(out, request.output),
        size=common_pb2.Size(width=out.shape[1], height=out.shape[0]),
        model=name,
        metadata=ctx.metadata(),
    )


def _triton_network(ctx: CallContext, model: str, scale: int) -> realesrgan.Network:
    """A Real-ESRGAN network on Triton (1 x 3 x h x w in [0, 1] -> scaled)."""

    def run(x: np.ndarray) -> np.ndarray:
        result = ctx.inference.infer(
            model,
            {"image": x},
            ["upscaled"],
            timeout=ctx.remaining(),
            output_bytes={"upscaled": x.nbytes * scale * scale},
        )
        return result["upscaled"]

    return run


def _luma_upscale(ctx: CallContext, model: str, pixels: np.ndarray, scale: int) -> np.ndarray:
    """The project's SR: the network upscales Y (BT.601), chroma and alpha go bicubic."""
    rgb = pixels[:, :, :3]
    ycc = quality.rgb_to_ycbcr(rgb)
    luma = (ycc[:, :, 0].astype(np.float32) / 255.0)[None, None]

    def network(tile: np.ndarray) -> np.ndarray:
        return ctx.inference.infer(
            model,
            {"luma": tile, "scale": np.array([scale], np.int32)},
            ["upscaled"],
            timeout=ctx.remaining(),
            output_bytes={"upscaled": tile.nbytes * scale * scale},
        )["upscaled"]

    height, width = luma.shape[2:]
    # The net's reflection padding needs 2 pixels a side: edge-pad tiny pictures, crop after.
    grow = ((0, 0), (0, 0), (0, max(0, MIN_LUMA_SIDE - height)), (0, max(0, MIN_LUMA_SIDE - width)))
    upscaled = realesrgan.run_tiled(
        network, np.pad(luma, grow, mode="edge"), scale, AUTO_TILE, SR_OVERLAP
    )
    y = np.clip(upscaled[0, 0, : height * scale, : width * scale], 0, 1).astype(np.float64) * 255
    chroma = quality.imresize(ycc[:, :, 1:].astype(np.float64), scale)
    out = quality.ycbcr_to_rgb(np.concatenate([y[:, :, None], chroma], axis=2))
    if pixels.shape[2] == 4:
        h, w = out.shape[:2]
        alpha = cv2.resize(pixels[:, :, 3], (w, h), interpolation=cv2.INTER_CUBIC)
        out = np.dstack([out, alpha])
    return out


@capability(
    "enhancement.Denoise",
    version="1.0.0",
    models=("vipro_denoise",),
    memory=MemoryCost(per_pixel=80),
)
def denoise(
    request: enhancement_pb2.DenoiseRequest, ctx: CallContext
) -> enhancement_pb2.DenoiseResponse:
    """Remove Gaussian noise (sigma 0-50, or estimated) with the project's denoiser on Triton."""
    pixels = ctx.read_image(request.image, "image")
    ctx.inference.require("vipro_denoise")
    color = pixels[:, :, :3].astype(np.float32)
    grey = bool(
        np.all(color[:, :, 0] == color[:, :, 1]) and np.all(color[:, :, 1] == color[:, :, 2])
    )
    planes = color[:, :, :1] if grey else color
    sigma = request.sigma or float(
        np.median([quality.estimate_noise_sigma(planes[:, :, c]) for c in range(planes.shape[2])])
    )
    with ctx.stage("infer"):
        batch = np.ascontiguousarray(planes.transpose(2, 0, 1)[:, None] / 255.0, np.float32)
        levels = np.full(len(batch), sigma / 255.0, np.float32)

        def network(tile: np.ndarray) -> np.ndarray:
            return ctx.inference.infer(
                "vipro_denoise",
                {"image": tile, "sigma": levels},
                ["denoised"],
                timeout=ctx.remaining(),
                output_bytes={"denoised": tile.nbytes},
            )["denoised"]

        denoised = realesrgan.run_tiled(network, batch, 1, AUTO_TILE, DENOISE_OVERLAP)
    clean = (np.clip(denoised[:, 0], 0, 1) * 255.0 + 0.5).astype(np.uint8)
    out = np.repeat(clean[0][:, :, None], 3, axis=2) if grey else clean.transpose(1, 2, 0)
    if pixels.shape[2] == 4:
        out = np.dstack([out, pixels[:, :, 3]])
    return enhancement_pb2.DenoiseResponse(
        image=ctx.image_output(np.ascontiguousarray(out), request.output),
        sigma=sigma,
        metadata=ctx.metadata(),
    )


def provider() -> Provider:
    """The enhancement service process."""
    return Provider("enhancement", [super_resolve, denoise], families=("enhancement",))
