"""enhancement.Denoise: remove Gaussian noise (sigma 0-50, or estimated) with the project's
denoiser on Triton (:mod:`.denoising`)."""

from __future__ import annotations

import numpy as np

from common import adapters
from common.admission import MemoryCost
from common.provider import CallContext, capability
from services.enhancement import denoising
from vipro.v1 import enhancement_pb2

MODEL = "vipro_denoise"
AUTO_TILE = 512
"""Input tile of every Triton request (one 4 MP picture in one piece took 2.9 GB in the model
process)."""


def triton_network(ctx: CallContext) -> denoising.DenoiseNetwork:
    """The denoiser on Triton as a :data:`denoising.DenoiseNetwork`."""

    def run(x: np.ndarray, sigma: np.ndarray) -> np.ndarray:
        return ctx.inference.infer(
            MODEL,
            {"image": x, "sigma": sigma},
            ["denoised"],
            timeout=ctx.remaining(),
            output_bytes={"denoised": x.nbytes},
        )["denoised"]

    return run


@capability(
    "enhancement.Denoise", version="1.0.0", models=(MODEL,), memory=MemoryCost(per_pixel=80)
)
def denoise(
    request: enhancement_pb2.DenoiseRequest, ctx: CallContext
) -> enhancement_pb2.DenoiseResponse:
    """Remove Gaussian noise (sigma 0-50, or estimated) with the project's denoiser on Triton."""
    pixels = ctx.read_image(request.image, "image")
    ctx.inference.require(MODEL)
    sigma = request.sigma or denoising.estimate_sigma(pixels)
    with ctx.stage("infer"):
        clean = denoising.denoise(triton_network(ctx), pixels, sigma, AUTO_TILE)
    out = adapters.keep_alpha((clean + 0.5).astype(np.uint8), pixels)
    return enhancement_pb2.DenoiseResponse(
        image=ctx.image_output(np.ascontiguousarray(out), request.output),
        sigma=sigma,
        metadata=ctx.metadata(),
    )
