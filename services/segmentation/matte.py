"""segmentation.Matte: a fine alpha matte from a coarse mask or a trimap (closed-form
matting and blur-fusion foreground colours: :mod:`.matting`)."""

from __future__ import annotations

from common.admission import MemoryCost
from common.provider import CallContext, capability
from services.segmentation import cutout, matting
from services.segmentation.shared import cutout_message, read_picture
from vipro.v1 import segmentation_pb2


@capability("segmentation.Matte", version="1.0.0", memory=MemoryCost(per_pixel=365))
def matte(
    request: segmentation_pb2.MatteRequest, ctx: CallContext
) -> segmentation_pb2.MatteResponse:
    """Fine alpha matte from a coarse mask or a trimap (closed-form matting, blur-fusion
    foreground colours)."""
    rgb = read_picture(ctx, request.image)
    h, w = rgb.shape[:2]
    if request.HasField("trimap"):
        trimap = matting.normalize_trimap(ctx.read_mask(request.trimap, "trimap", (h, w)))
    else:
        mask = ctx.read_mask(request.mask, "mask", (h, w)) > 0
        trimap = matting.trimap_from_mask(mask, request.unknown_band_pixels or None)
    with ctx.stage("matte"):
        alpha = matting.estimate_alpha(rgb, trimap)
    fg = None
    if request.estimate_foreground:
        with ctx.stage("foreground"):
            fg = matting.estimate_foreground(matting.as_float_image(rgb), alpha)
    response = segmentation_pb2.MatteResponse(
        cutout=cutout_message(ctx, rgb, alpha, fg, request.cutout)
    )
    if fg is not None:
        response.foreground.CopyFrom(ctx.image_output(cutout.to_uint8(fg), request.cutout.output))
    response.metadata.CopyFrom(ctx.metadata())
    return response
