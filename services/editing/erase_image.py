"""editing.EraseImage: erase what a mask, boxes or detected targets cover and fill the hole
(targets: :mod:`.erase_targets`; filling: :mod:`.inpaint`)."""

from __future__ import annotations

import numpy as np

from common import adapters
from common.admission import MemoryCost
from common.errors import FailedPrecondition
from common.provider import CallContext, capability
from services.editing import erase_targets, inpaint
from vipro.v1 import editing_pb2


def fill(rgb: np.ndarray, hole: np.ndarray, method: int) -> np.ndarray:
    """Fill ``hole`` of ``rgb`` by the requested ``FillMethod`` (PatchMatch by default).

    Raises:
        FailedPrecondition: FILL_METHOD_MODEL, which needs an inpainting model this deployment
            does not have.
    """
    if method == editing_pb2.FILL_METHOD_TELEA:
        return inpaint.fill_telea(rgb, hole)
    if method == editing_pb2.FILL_METHOD_MODEL:
        raise FailedPrecondition(
            "FILL_METHOD_MODEL needs an inpainting model (e.g. LaMa) in the model repository; "
            "this deployment has none. Use FILL_METHOD_PATCHMATCH.",
            [("MODEL", "inpainting")],
        )
    return inpaint.fill_patchmatch(rgb, hole)


@capability("editing.EraseImage", version="1.0.0", memory=MemoryCost(per_pixel=280))
def erase_image(
    request: editing_pb2.EraseImageRequest, ctx: CallContext
) -> editing_pb2.EraseImageResponse:
    """Erase what a mask, boxes or detected targets cover; fill by PatchMatch or Telea."""
    pixels = ctx.read_image(request.image, "image")
    rgb = np.ascontiguousarray(pixels[..., :3])
    hole, detections = erase_targets.region_mask(ctx, request.region, request.image, rgb.shape[:2])
    with ctx.stage("fill"):
        out = fill(rgb, hole, request.method)
    return editing_pb2.EraseImageResponse(
        image=ctx.image_output(adapters.keep_alpha(out, pixels), request.output),
        mask=ctx.mask_output(hole, request.output.delivery),
        detections=detections,
        metadata=ctx.metadata(),
    )
