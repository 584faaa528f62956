"""segmentation.SegmentPerson: cut out people (MediaPipe selfie segmentation on Triton:
:mod:`.person`; edges: :mod:`.matting`)."""

from __future__ import annotations

import numpy as np

from common import adapters
from common.admission import MemoryCost
from common.errors import FailedPrecondition
from common.provider import CallContext, capability
from services.segmentation import cutout, matting, person
from services.segmentation.shared import cutout_message, foreground, matte_mask, read_picture
from vipro.v1 import segmentation_pb2

SERVED_PARTS = (segmentation_pb2.PERSON_PART_UNSPECIFIED, segmentation_pb2.PERSON_PART_BODY)


@capability(
    "segmentation.SegmentPerson",
    version="1.0.0",
    models=(person.SQUARE[0], person.LANDSCAPE[0]),
    memory=MemoryCost(per_pixel=85),
)
def segment_person(
    request: segmentation_pb2.SegmentPersonRequest, ctx: CallContext
) -> segmentation_pb2.SegmentPersonResponse:
    """Cut out people (MediaPipe selfie segmentation on Triton, then closed-form matting)."""
    if request.part not in SERVED_PARTS:
        name = segmentation_pb2.PersonPart.Name(request.part)
        raise FailedPrecondition(
            f"part {name} needs a human-parsing model, which this deployment does not have; "
            "PERSON_PART_BODY is served",
            [("MODEL", "human-parsing")],
        )
    rgb = read_picture(ctx, request.image)
    h, w = rgb.shape[:2]
    batch, box = person.letterbox(rgb)
    ctx.inference.require(box.model)
    with ctx.stage("infer"):
        output = ctx.inference.infer(box.model, {"image": batch}, ["mask"], timeout=ctx.remaining())
    prob = person.probability(output["mask"], box, (h, w))
    found = person.people(prob >= 0.5)
    if request.max_people:
        found = found[: request.max_people]
    band = matting.default_band((h, w)) + int(np.ceil(1 / box.scale))

    def alpha_of(masks: list[np.ndarray]) -> np.ndarray:
        if not masks:
            return np.zeros((h, w))
        with ctx.stage("matte"):
            return matte_mask(rgb, np.logical_or.reduce(masks), band)

    alpha = alpha_of(found)
    fg = foreground(ctx, rgb, alpha, request.cutout)
    response = segmentation_pb2.SegmentPersonResponse(
        cutout=cutout_message(ctx, rgb, alpha, fg, request.cutout),
        image_size=adapters.size(w, h),
    )
    for mask in found:
        score = float(prob[mask].mean())
        entry = response.people.add(label="person", score=score)
        own = alpha_of([mask]) if request.separate_people else mask.astype(np.float64)
        b = cutout.bounding_box(own)
        entry.box.CopyFrom(adapters.box(b.x, b.y, b.width, b.height, score, "person"))
        if request.separate_people:
            fg = foreground(ctx, rgb, own, request.cutout)
            entry.cutout.CopyFrom(cutout_message(ctx, rgb, own, fg, request.cutout))
    response.metadata.CopyFrom(ctx.metadata())
    return response
