"""segmentation.SegmentObject: cut out the main product or the salient objects (background
model and GrabCut: :mod:`.commodity`; edges: :mod:`.matting`)."""

from __future__ import annotations

import cv2
import numpy as np

from common import adapters
from common.admission import MemoryCost
from common.provider import CallContext, capability
from services.segmentation import commodity, cutout, matting
from services.segmentation.shared import (
    DEFAULT_MIN_SCORE,
    cutout_message,
    foreground,
    matte_mask,
    read_picture,
    region_box,
)
from vipro.v1 import segmentation_pb2


def segment_alpha(segment: commodity.Segment, box: cutout.Box, h: int, w: int) -> np.ndarray:
    """A segment's working-resolution mask brought to full image size (nearest), 0/1."""
    full = np.zeros((h, w))
    up = cv2.resize(
        segment.mask.astype(np.uint8), (box.width, box.height), interpolation=cv2.INTER_NEAREST
    )
    full[box.y : box.y + box.height, box.x : box.x + box.width] = up
    return full


@capability("segmentation.SegmentObject", version="1.0.0", memory=MemoryCost(per_pixel=260))
def segment_object(
    request: segmentation_pb2.SegmentObjectRequest, ctx: CallContext
) -> segmentation_pb2.SegmentObjectResponse:
    """Cut out the main product or salient objects (background model + GrabCut + matting)."""
    rgb = read_picture(ctx, request.image)
    h, w = rgb.shape[:2]
    box = region_box(request.region, (h, w))
    part = cutout.crop(rgb, box)
    with ctx.stage("segment"):
        segments, scale = commodity.segment_objects(part)
    limit = request.max_objects or 1
    floor = request.min_score or DEFAULT_MIN_SCORE
    kept = [s for i, s in enumerate(segments[:limit]) if i == 0 or s.score >= floor]
    label = "product" if request.mode == segmentation_pb2.SEGMENT_OBJECT_MODE_COMMODITY else ""
    band = matting.default_band((h, w)) + int(np.ceil(1 / scale))

    def full_alpha(masks: list[np.ndarray]) -> np.ndarray:
        alpha = np.zeros((h, w))
        if masks:
            union = np.logical_or.reduce(masks).astype(np.float32)
            up = cv2.resize(union, (box.width, box.height), interpolation=cv2.INTER_LINEAR) >= 0.5
            with ctx.stage("matte"):
                alpha[box.y : box.y + box.height, box.x : box.x + box.width] = matte_mask(
                    part, up, band
                )
        return alpha

    alpha = full_alpha([s.mask for s in kept])
    fg = foreground(ctx, rgb, alpha, request.cutout)
    response = segmentation_pb2.SegmentObjectResponse(
        cutout=cutout_message(ctx, rgb, alpha, fg, request.cutout),
        image_size=adapters.size(w, h),
    )
    for segment in kept:
        own = full_alpha([segment.mask]) if request.separate_objects else None
        bounds = cutout.bounding_box(own if own is not None else segment_alpha(segment, box, h, w))
        found = response.objects.add(label=label, score=segment.score)
        if bounds is not None:
            found.box.CopyFrom(
                adapters.box(bounds.x, bounds.y, bounds.width, bounds.height, segment.score, label)
            )
        if own is not None:
            fg = foreground(ctx, rgb, own, request.cutout)
            found.cutout.CopyFrom(cutout_message(ctx, rgb, own, fg, request.cutout))
    response.metadata.CopyFrom(ctx.metadata())
    return response
