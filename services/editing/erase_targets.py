"""What EraseImage and EraseVideo erase: the caller's mask and boxes, and targets found by the
segmentation service (text lines by DetectText, people by SegmentPerson), as masks and boxes.

The geometry (growing, caption and corner placement) is plain numpy in :mod:`.erase`; this
module holds the calls and the proto glue the two handlers share.
"""

from __future__ import annotations

import cv2
import numpy as np

from common import adapters
from common.provider import CallContext
from services.editing import erase
from vipro.v1 import common_pb2, editing_pb2, segmentation_pb2

TEXT_TARGETS = {
    editing_pb2.ERASE_TARGET_TEXT: "text",
    editing_pb2.ERASE_TARGET_SUBTITLE: "subtitle",
    editing_pb2.ERASE_TARGET_LOGO: "logo",
}
EVERY_LINE = {editing_pb2.ERASE_TARGET_TEXT}
DETECTOR_JPEG_QUALITY = 92


def wanted(region: editing_pb2.EraseRegion) -> set[int]:
    """The EraseTarget values ``region`` asks for (the contract's rule makes sure it names a
    mask, boxes or targets)."""
    return set(region.targets) - {editing_pb2.ERASE_TARGET_UNSPECIFIED}


def text_label(rect: erase.Rect, shape: tuple[int, int], targets: set[int]) -> str | None:
    """Which of the text ``targets`` a line in a frame of ``shape`` is, if any: any line is
    TEXT, caption-placed lines are SUBTITLE, corner-placed lines are LOGO."""
    for target in sorted(targets):
        if (
            target == editing_pb2.ERASE_TARGET_TEXT
            or (target == editing_pb2.ERASE_TARGET_SUBTITLE and erase.is_caption(rect, shape))
            or (target == editing_pb2.ERASE_TARGET_LOGO and erase.near_corner(rect, shape))
        ):
            return TEXT_TARGETS[target]
    return None


def jpeg(rgb: np.ndarray) -> common_pb2.Image:
    """``uint8`` RGB as an inline JPEG for a detector."""
    _, data = cv2.imencode(
        ".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, DETECTOR_JPEG_QUALITY]
    )
    return common_pb2.Image(inline=data.tobytes(), media_type="image/jpeg")


def detect_text(
    ctx: CallContext, image: common_pb2.Image, shape: tuple[int, int], targets: set[int]
) -> tuple[np.ndarray, list[tuple[erase.Rect, str, np.ndarray]]]:
    """Glyph strokes and the lines the text ``targets`` select (:func:`text_label`), by
    segmentation.DetectText. Returns (``bool`` stroke mask, [(box, label, polygon)])."""
    found = ctx.call(
        "segmentation.DetectText",
        image=image,
        granularity=segmentation_pb2.TEXT_GRANULARITY_LINE,
        mask_mode=segmentation_pb2.TEXT_MASK_MODE_STROKES,
    )
    lines = []
    for region in found.regions:
        b = region.box
        rect = erase.clip_box(b.x, b.y, b.width, b.height, shape)
        label = text_label(rect, shape, targets)
        if label is not None and not rect.empty:
            lines.append((rect, label, adapters.points(region.polygon)))
    if not lines:
        return np.zeros(shape, bool), lines
    return ctx.read_mask(found.mask, "DetectText.mask", shape) > 0, lines


def text_targets(
    ctx: CallContext,
    image: common_pb2.Image,
    shape: tuple[int, int],
    targets: set[int],
    extra: int,
) -> tuple[np.ndarray, list[common_pb2.Box]]:
    """Glyph strokes of the selected text lines (:func:`detect_text`), grown by
    :data:`erase.HALO_FRACTION` of the line height (outlines and shadows) plus ``extra``
    pixels. Returns (``bool`` mask, labelled boxes)."""
    strokes, lines = detect_text(ctx, image, shape, targets)
    if not lines:
        return strokes, []
    selected = np.zeros(shape, np.uint8)
    for _, _, polygon in lines:
        cv2.fillPoly(selected, [np.round(polygon).astype(np.int32)], 1)
    # Outlines, shadows and glow around glyphs scale with the type size.
    halo = max(round(erase.HALO_FRACTION * min(r.x1 - r.x0, r.y1 - r.y0)) for r, _, _ in lines)
    boxes = [
        adapters.box(r.x0, r.y0, r.x1 - r.x0, r.y1 - r.y0, label=label) for r, label, _ in lines
    ]
    # A detector's polygon may cut the last letter's edge: strokes within the halo count.
    return erase.grow(strokes & erase.grow(selected > 0, halo + extra), halo + extra), boxes


def person_target(
    ctx: CallContext, image: common_pb2.Image, shape: tuple[int, int]
) -> tuple[np.ndarray, list[common_pb2.Box]]:
    """Mask and boxes of the people segmentation.SegmentPerson finds."""
    found = ctx.call(
        "segmentation.SegmentPerson",
        image=image,
        cutout=segmentation_pb2.CutoutOptions(forms=[segmentation_pb2.CUTOUT_FORM_MASK]),
    )
    if not found.people:
        return np.zeros(shape, bool), []
    mask = ctx.read_mask(found.cutout.mask, "SegmentPerson.mask", shape) > 0
    boxes = [
        adapters.box(p.box.x, p.box.y, p.box.width, p.box.height, p.score, "person")
        for p in found.people
    ]
    return mask, boxes


def caller_mask(
    ctx: CallContext, region: editing_pb2.EraseRegion, shape: tuple[int, int]
) -> np.ndarray:
    """The caller's mask and boxes (clipped to the frame), grown by ``dilate_pixels``."""
    hole = np.zeros(shape, bool)
    if region.HasField("mask"):
        hole |= ctx.read_mask(region.mask, "region.mask", shape) > 0
    rects = [erase.clip_box(b.x, b.y, b.width, b.height, shape) for b in region.boxes]
    hole |= erase.box_mask((r for r in rects if not r.empty), shape)
    return erase.grow(hole, region.dilate_pixels or erase.DEFAULT_DILATE)


def region_mask(
    ctx: CallContext,
    region: editing_pb2.EraseRegion,
    image: common_pb2.Image,
    shape: tuple[int, int],
) -> tuple[np.ndarray, list[common_pb2.Box]]:
    """The caller's mask and boxes plus the detected targets, grown by ``dilate_pixels``
    (detected text: its halo plus ``dilate_pixels``, by default :data:`erase.TEXT_DILATE`).

    Raises:
        InvalidArgument: the region's mask is not the image's size.
    """
    targets = wanted(region)
    hole = caller_mask(ctx, region, shape)
    detections: list[common_pb2.Box] = []
    with ctx.stage("detect"):
        if targets & set(TEXT_TARGETS):
            extra = region.dilate_pixels or erase.TEXT_DILATE
            found, boxes = text_targets(ctx, image, shape, targets & set(TEXT_TARGETS), extra)
            hole |= found
            detections += boxes
        if editing_pb2.ERASE_TARGET_PERSON in targets:
            found, boxes = person_target(ctx, image, shape)
            hole |= erase.grow(found, region.dilate_pixels or erase.DEFAULT_DILATE)
            detections += boxes
    return hole, detections
