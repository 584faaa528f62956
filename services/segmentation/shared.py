"""Proto glue the segmentation handlers share: reading the picture and its region, and
answering with a Cutout in the forms the caller asked for (:mod:`.cutout`, :mod:`.matting`)."""

from __future__ import annotations

import numpy as np

from common import adapters
from common.errors import InvalidArgument
from common.provider import CallContext
from services.segmentation import cutout, matting
from vipro.v1 import common_pb2, segmentation_pb2

MIN_SIDE = 16  # pixels; smaller pictures carry no object worth cutting out
DEFAULT_MIN_SCORE = 0.5
Form = segmentation_pb2.CutoutForm
COLOUR_FORMS = {Form.CUTOUT_FORM_RGBA, Form.CUTOUT_FORM_ON_BACKGROUND, Form.CUTOUT_FORM_CROP}


def read_picture(ctx: CallContext, image: common_pb2.Image) -> np.ndarray:
    """The request's ``image`` as ``uint8`` RGB, at least :data:`MIN_SIDE` on each side.

    Raises:
        InvalidArgument: the picture is smaller (besides what ``ctx.read_image`` raises).
    """
    rgb = ctx.read_image(image, "image", alpha=False)
    h, w = rgb.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise InvalidArgument.field("image", f"is {w}x{h}; at least {MIN_SIDE}x{MIN_SIDE} needed")
    return rgb


def region_box(region: common_pb2.Box, shape: tuple[int, int]) -> cutout.Box:
    """The request's region clipped to the image; the whole image when unset.

    Raises:
        InvalidArgument: the region lies outside the image or is smaller than MIN_SIDE.
    """
    h, w = shape
    if not region.ByteSize():
        return cutout.Box(0, 0, w, h)
    x0, y0 = max(0, int(np.floor(region.x))), max(0, int(np.floor(region.y)))
    x1 = min(w, int(np.ceil(region.x + region.width)))
    y1 = min(h, int(np.ceil(region.y + region.height)))
    if x1 - x0 < MIN_SIDE or y1 - y0 < MIN_SIDE:
        raise InvalidArgument.field(
            "region", f"covers {max(0, x1 - x0)}x{max(0, y1 - y0)} pixels of the {w}x{h} image"
        )
    return cutout.Box(x0, y0, x1 - x0, y1 - y0)


def forms(options: segmentation_pb2.CutoutOptions) -> set[int]:
    """The Cutout forms asked for (RGBA when none)."""
    return set(options.forms) - {Form.CUTOUT_FORM_UNSPECIFIED} or {Form.CUTOUT_FORM_RGBA}


def foreground(
    ctx: CallContext, rgb: np.ndarray, alpha: np.ndarray, options: segmentation_pb2.CutoutOptions
) -> np.ndarray | None:
    """Foreground colours under ``alpha`` (:func:`matting.estimate_foreground`) when a form
    that shows the object's colours is asked for and something is cut out; else None."""
    if not forms(options) & COLOUR_FORMS or not alpha.any():
        return None
    with ctx.stage("foreground"):
        return matting.estimate_foreground(matting.as_float_image(rgb), alpha)


def matte_mask(rgb: np.ndarray, mask: np.ndarray, band: int | None = None) -> np.ndarray:
    """Alpha of ``rgb`` from a coarse ``bool`` mask of the same size (trimap band ``band``)."""
    if not mask.any():
        return np.zeros(mask.shape)
    trimap = matting.trimap_from_mask(mask, band)
    return matting.estimate_alpha(rgb, trimap)


def cutout_message(
    ctx: CallContext,
    rgb: np.ndarray,
    alpha: np.ndarray,
    fg: np.ndarray | None,
    options: segmentation_pb2.CutoutOptions,
) -> segmentation_pb2.Cutout:
    """The forms of ``options`` (RGBA when none) encoded and delivered as a Cutout; masks and
    mattes are PNG, and cut-outs PNG when JPEG (no alpha) was asked."""
    wanted = forms(options)
    out = options.output
    rgba_output = common_pb2.OutputOptions()
    rgba_output.CopyFrom(out)
    if rgba_output.format == common_pb2.IMAGE_FORMAT_JPEG:
        rgba_output.format = common_pb2.IMAGE_FORMAT_PNG
    message = segmentation_pb2.Cutout()
    if Form.CUTOUT_FORM_MASK in wanted:
        message.mask.CopyFrom(ctx.mask_output(cutout.binary_mask(alpha), out.delivery))
    if Form.CUTOUT_FORM_ALPHA in wanted:
        message.alpha.CopyFrom(ctx.mask_output(cutout.to_uint8(alpha), out.delivery))
    if Form.CUTOUT_FORM_RGBA in wanted:
        message.rgba.CopyFrom(ctx.image_output(cutout.rgba(rgb, alpha, fg), rgba_output))
    if Form.CUTOUT_FORM_ON_BACKGROUND in wanted:
        composite = cutout.on_background(rgb, alpha, adapters.color(options.background), fg)
        message.on_background.CopyFrom(ctx.image_output(composite, out))
    if Form.CUTOUT_FORM_CROP in wanted:
        if options.WhichOneof("crop_margin") == "crop_margin_fraction":
            box = cutout.crop_box(alpha, margin_fraction=options.crop_margin_fraction)
        else:
            box = cutout.crop_box(alpha, margin_pixels=options.crop_margin_pixels)
        if box is not None:
            image = cutout.crop(cutout.rgba(rgb, alpha, fg), box)
            message.crop.CopyFrom(ctx.image_output(image, rgba_output))
            message.crop_box.CopyFrom(adapters.box(box.x, box.y, box.width, box.height))
    return message
