"""editing.ConvertImage: resize, crop and re-encode an image (algorithm: :mod:`.convert`)."""

from __future__ import annotations

from common import adapters, media
from common.admission import MemoryCost
from common.errors import InvalidArgument
from common.provider import CallContext, capability
from services.editing import convert
from vipro.v1 import common_pb2, editing_pb2

FITS = {
    editing_pb2.FIT_MODE_UNSPECIFIED: convert.FIT_CONTAIN,
    editing_pb2.FIT_MODE_CONTAIN: convert.FIT_CONTAIN,
    editing_pb2.FIT_MODE_COVER: convert.FIT_COVER,
    editing_pb2.FIT_MODE_STRETCH: convert.FIT_STRETCH,
    editing_pb2.FIT_MODE_PAD: convert.FIT_PAD,
}


@capability("editing.ConvertImage", version="1.0.0", stage="ga", memory=MemoryCost(per_pixel=18))
def convert_image(
    request: editing_pb2.ConvertImageRequest, ctx: CallContext
) -> editing_pb2.ConvertImageResponse:
    """Resize, crop and re-encode an image (area/Lanczos resampling)."""
    pixels = ctx.read_image(request.image, "image")
    background = adapters.color(request.background)
    with ctx.stage("convert"):
        if request.HasField("crop"):
            box = request.crop
            try:
                pixels = convert.crop(pixels, box.x, box.y, box.width, box.height)
            except ValueError as exc:
                raise InvalidArgument.field("crop", str(exc)) from None
        fit = FITS.get(request.fit)
        if fit is None:
            raise InvalidArgument.field("fit", f"unknown fit mode {request.fit}")
        try:
            out = convert.fit_image(pixels, request.width, request.height, fit, background)
        except ValueError as exc:
            raise InvalidArgument.field("width", str(exc)) from None
        if out.shape[2] == 4 and request.output.format == common_pb2.IMAGE_FORMAT_JPEG:
            out = media.flatten(out, background)
    image = ctx.image_output(out, request.output)
    return editing_pb2.ConvertImageResponse(
        image=image, width=out.shape[1], height=out.shape[0], metadata=ctx.metadata()
    )
