"""enhancement.SuperResolve: upscale 2x/3x/4x with the project's fast luma SR
(:mod:`.luma_sr`) or Real-ESRGAN (:mod:`.realesrgan`), the networks on Triton."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from common import adapters
from common.admission import MemoryCost
from common.errors import InvalidArgument
from common.provider import CallContext, capability
from services.enhancement import luma_sr, realesrgan
from vipro.v1 import enhancement_pb2

MAX_SIDE = 16384
AUTO_TILE = 512
"""Input tile of every Triton request (a bounded request bounds Triton's memory)."""
REALESRGAN_OVERLAP = 16


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

    def native_scale(self, scale: int) -> int:
        """The scale to run the network at: the asked one when native, else the next larger
        (the largest when none is)."""
        if scale in self.scales:
            return scale
        return min((s for s in self.scales if s > scale), default=max(self.scales))

    def triton_name(self, scale: int) -> str:
        """The Triton model that runs at native ``scale``."""
        return self.triton.format(scale=scale)


SR_MODELS = {
    "vipro-fast": SRModel("vipro_sr", (2, 3, 4), luma=True),
    "RealESRGAN_x4plus": SRModel("realesrgan_x4plus", (4,)),
    "RealESRGAN_x4plus_anime_6B": SRModel("realesrgan_x4plus_anime", (4,)),
    "realesr-animevideov3": SRModel("realesr_animevideov3_x{scale}", (2, 3, 4)),
}
DEFAULT_SR_MODEL = "vipro-fast"
TRITON_MODELS = tuple(sorted({m.triton_name(s) for m in SR_MODELS.values() for s in m.scales}))


def triton_network(
    ctx: CallContext, model: str, scale: int, input_name: str = "image", extra: dict | None = None
) -> realesrgan.Network:
    """Triton model ``model`` as an in-process network: each tile goes to input
    ``input_name``, with the ``extra`` inputs (e.g. the scale) alongside."""

    def run(x: np.ndarray) -> np.ndarray:
        return ctx.inference.infer(
            model,
            {input_name: x, **(extra or {})},
            ["upscaled"],
            timeout=ctx.remaining(),
            output_bytes={"upscaled": x.nbytes * scale * scale},
        )["upscaled"]

    return run


def read_request(
    request: enhancement_pb2.SuperResolveRequest, ctx: CallContext
) -> tuple[np.ndarray, int, str, SRModel]:
    """(pixels, scale, model name, model) of a request.

    Raises:
        InvalidArgument: scale under 2, an unknown model, or an output over MAX_SIDE a side.
    """
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
    return pixels, scale, name, model


@capability(
    "enhancement.SuperResolve",
    version="1.0.0",
    models=TRITON_MODELS,
    memory=MemoryCost(per_pixel=225),  # per output pixel
)
def super_resolve(
    request: enhancement_pb2.SuperResolveRequest, ctx: CallContext
) -> enhancement_pb2.SuperResolveResponse:
    """Upscale 2x/3x/4x with the project's fast SR or Real-ESRGAN on Triton."""
    pixels, scale, name, model = read_request(request, ctx)
    native = model.native_scale(scale)
    triton_name = model.triton_name(native)
    ctx.inference.require(triton_name)
    with ctx.stage("infer"):
        if model.luma:
            scale_input = {"scale": np.array([native], np.int32)}
            network = triton_network(ctx, triton_name, native, "luma", scale_input)
            out = luma_sr.upscale(network, pixels, native, AUTO_TILE)
        else:
            tile = max(request.tile_size, 32) if request.tile_size else AUTO_TILE
            network = triton_network(ctx, triton_name, native)
            out = realesrgan.upscale(network, pixels, native, tile, REALESRGAN_OVERLAP)
    if native != scale:
        with ctx.stage("resize"):
            height, width = pixels.shape[:2]
            out = cv2.resize(out, (width * scale, height * scale), interpolation=cv2.INTER_AREA)
    return enhancement_pb2.SuperResolveResponse(
        image=ctx.image_output(out, request.output),
        size=adapters.size_of(out),
        model=name,
        metadata=ctx.metadata(),
    )
