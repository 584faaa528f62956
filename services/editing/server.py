"""EditingService capabilities: gRPC plumbing around the algorithms of this package."""

from __future__ import annotations

import cv2
import numpy as np

from common import media
from common.errors import FailedPrecondition, InvalidArgument
from common.provider import CallContext, Provider, capability
from services.editing import convert, erase, inpaint
from vipro.v1 import common_pb2, editing_pb2, segmentation_pb2, segmentation_pb2_grpc

_FITS = {
    editing_pb2.FIT_MODE_UNSPECIFIED: convert.FIT_CONTAIN,
    editing_pb2.FIT_MODE_CONTAIN: convert.FIT_CONTAIN,
    editing_pb2.FIT_MODE_COVER: convert.FIT_COVER,
    editing_pb2.FIT_MODE_STRETCH: convert.FIT_STRETCH,
    editing_pb2.FIT_MODE_PAD: convert.FIT_PAD,
}


@capability("editing.ConvertImage", version="1.0.0", stage="ga")
def convert_image(
    request: editing_pb2.ConvertImageRequest, ctx: CallContext
) -> editing_pb2.ConvertImageResponse:
    """Resize, crop and re-encode an image (area/Lanczos resampling)."""
    pixels = ctx.read_image(request.image, "image")
    background = media.color_tuple(request.background)
    with ctx.stage("convert"):
        if request.HasField("crop"):
            box = request.crop
            try:
                pixels = convert.crop(pixels, box.x, box.y, box.width, box.height)
            except ValueError as exc:
                raise InvalidArgument.field("crop", str(exc)) from None
        fit = _FITS.get(request.fit)
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


TEXT_TARGETS = {
    editing_pb2.ERASE_TARGET_TEXT: "text",
    editing_pb2.ERASE_TARGET_SUBTITLE: "subtitle",
    editing_pb2.ERASE_TARGET_LOGO: "logo",
}


def text_targets(
    ctx: CallContext, image: common_pb2.Image, shape: tuple[int, int], wanted: set[int]
) -> tuple[np.ndarray, list[common_pb2.Box]]:
    """Glyph strokes of the text lines that ``wanted`` targets select, found by
    segmentation.DetectText: every line for TEXT, caption-placed lines for SUBTITLE,
    corner-placed lines for LOGO; grown by :data:`erase.HALO_FRACTION` of the line height to
    take outlines and shadows. Returns (``bool`` mask, labelled boxes)."""
    found = ctx.call(
        segmentation_pb2_grpc.SegmentationServiceStub,
        "DetectText",
        segmentation_pb2.DetectTextRequest(
            image=image,
            granularity=segmentation_pb2.TEXT_GRANULARITY_LINE,
            mask_mode=segmentation_pb2.TEXT_MASK_MODE_STROKES,
        ),
    )
    selected = np.zeros(shape, np.uint8)
    boxes = []
    for region in found.regions:
        b = region.box
        rect = erase.clip_box(b.x, b.y, b.width, b.height, shape)
        label = next(
            (
                TEXT_TARGETS[t]
                for t in sorted(wanted)
                if t == editing_pb2.ERASE_TARGET_TEXT
                or (t == editing_pb2.ERASE_TARGET_SUBTITLE and erase.is_caption(rect, shape))
                or (t == editing_pb2.ERASE_TARGET_LOGO and erase.in_corner(rect, shape))
            ),
            None,
        )
        if label is None or rect.empty:
            continue
        polygon = np.array([[p.x, p.y] for p in region.polygon.points], np.float32)
        cv2.fillPoly(selected, [np.round(polygon).astype(np.int32)], 1)
        boxes.append(common_pb2.Box(x=b.x, y=b.y, width=b.width, height=b.height, label=label))
    if not boxes:
        return np.zeros(shape, bool), boxes
    strokes = ctx.read_mask(found.mask, "DetectText.mask", shape) > 0
    # Outlines, shadows and glow around glyphs scale with the type size.
    halo = max(round(erase.HALO_FRACTION * min(b.width, b.height)) for b in boxes)
    return erase.grow(strokes & erase.grow(selected > 0, 2), halo), boxes


def person_target(
    ctx: CallContext, image: common_pb2.Image, shape: tuple[int, int]
) -> tuple[np.ndarray, list[common_pb2.Box]]:
    """Mask and boxes of the people segmentation.SegmentPerson finds."""
    found = ctx.call(
        segmentation_pb2_grpc.SegmentationServiceStub,
        "SegmentPerson",
        segmentation_pb2.SegmentPersonRequest(
            image=image,
            cutout=segmentation_pb2.CutoutOptions(forms=[segmentation_pb2.CUTOUT_FORM_MASK]),
        ),
    )
    if not found.people:
        return np.zeros(shape, bool), []
    mask = ctx.read_mask(found.cutout.mask, "SegmentPerson.mask", shape) > 0
    boxes = [common_pb2.Box(label="person", score=p.score) for p in found.people]
    for box, person in zip(boxes, found.people, strict=True):
        box.x, box.y, box.width, box.height = (
            person.box.x,
            person.box.y,
            person.box.width,
            person.box.height,
        )
    return mask, boxes


def region_mask(
    ctx: CallContext,
    region: editing_pb2.EraseRegion,
    image: common_pb2.Image,
    shape: tuple[int, int],
) -> tuple[np.ndarray, list[common_pb2.Box]]:
    """The caller's mask and boxes plus the detected targets, grown by ``dilate_pixels``.

    Raises:
        InvalidArgument: the region names nothing to erase, or its mask is not the image's size.
    """
    targets = set(region.targets) - {editing_pb2.ERASE_TARGET_UNSPECIFIED}
    if not (region.HasField("mask") or region.boxes or targets):
        raise InvalidArgument.field(
            "region", "names nothing to erase: give a mask, boxes or targets"
        )
    hole = np.zeros(shape, bool)
    if region.HasField("mask"):
        hole |= ctx.read_mask(region.mask, "region.mask", shape) > 0
    rects = [erase.clip_box(b.x, b.y, b.width, b.height, shape) for b in region.boxes]
    hole |= erase.box_mask((r for r in rects if not r.empty), shape)
    detections: list[common_pb2.Box] = []
    with ctx.stage("detect"):
        if targets & set(TEXT_TARGETS):
            found, boxes = text_targets(ctx, image, shape, targets & set(TEXT_TARGETS))
            hole |= found
            detections += boxes
        if editing_pb2.ERASE_TARGET_PERSON in targets:
            found, boxes = person_target(ctx, image, shape)
            hole |= found
            detections += boxes
    grown = erase.grow(hole, region.dilate_pixels or erase.DEFAULT_DILATE)
    return grown, detections


def fill(rgb: np.ndarray, hole: np.ndarray, method: int) -> np.ndarray:
    """Fill ``hole`` of ``rgb`` by the requested ``FillMethod``.

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


@capability("editing.EraseImage", version="1.0.0")
def erase_image(
    request: editing_pb2.EraseImageRequest, ctx: CallContext
) -> editing_pb2.EraseImageResponse:
    """Erase what a mask, boxes or detected targets cover; fill by PatchMatch or Telea."""
    pixels = ctx.read_image(request.image, "image")
    rgb = np.ascontiguousarray(pixels[..., :3])
    shape = rgb.shape[:2]
    hole, detections = region_mask(ctx, request.region, request.image, shape)
    with ctx.stage("fill"):
        out = fill(rgb, hole, request.method)
    if pixels.shape[2] == 4:  # keep the caller's alpha
        out = np.dstack([out, pixels[..., 3]])
    png = common_pb2.OutputOptions(
        format=common_pb2.IMAGE_FORMAT_PNG, delivery=request.output.delivery
    )
    return editing_pb2.EraseImageResponse(
        image=ctx.image_output(out, request.output),
        mask=common_pb2.Mask(image=ctx.image_output(hole.astype(np.uint8) * 255, png)),
        detections=detections,
        metadata=ctx.metadata(),
    )


def provider() -> Provider:
    """The editing service process."""
    return Provider("editing", [convert_image, erase_image])
