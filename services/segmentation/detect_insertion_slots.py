"""segmentation.DetectInsertionSlots: planar surfaces (walls, screens, boards, posters,
floors) as quadrilaterals, in a picture or one video frame (:mod:`.insertion_slots`)."""

from __future__ import annotations

import numpy as np

from common import adapters, video
from common.admission import MemoryCost
from common.errors import InvalidArgument
from common.provider import CallContext, capability
from services.segmentation import insertion_slots
from services.segmentation.shared import DEFAULT_MIN_SCORE, MIN_SIDE, read_picture
from vipro.v1 import segmentation_pb2

SURFACE_KINDS = {
    "wall": segmentation_pb2.INSERTION_SURFACE_WALL,
    "screen": segmentation_pb2.INSERTION_SURFACE_SCREEN,
    "board": segmentation_pb2.INSERTION_SURFACE_BOARD,
    "poster": segmentation_pb2.INSERTION_SURFACE_POSTER,
    "tabletop": segmentation_pb2.INSERTION_SURFACE_TABLETOP,
    "other": segmentation_pb2.INSERTION_SURFACE_OTHER,
}
DEFAULT_MAX_SLOTS = 10
DEFAULT_MIN_AREA = 0.01  # of the frame


def read_frame(
    ctx: CallContext, request: segmentation_pb2.DetectInsertionSlotsRequest
) -> tuple[np.ndarray, float]:
    """The picture, or the video frame nearest ``time_seconds`` and its time (0 for a picture).

    Raises:
        InvalidArgument: unreadable media, or frames smaller than MIN_SIDE.
    """
    if request.WhichOneof("source") != "video":
        return read_picture(ctx, request.image), 0.0
    data = ctx.read_bytes(request.video, "video")
    with ctx.stage("decode"):
        rgb, seconds = video.frame_at(data, request.time_seconds)
    if min(rgb.shape[:2]) < MIN_SIDE:
        raise InvalidArgument.field("video", f"frames are smaller than {MIN_SIDE}x{MIN_SIDE}")
    return rgb, seconds


@capability("segmentation.DetectInsertionSlots", version="1.0.0", memory=MemoryCost(per_pixel=30))
def detect_insertion_slots(
    request: segmentation_pb2.DetectInsertionSlotsRequest, ctx: CallContext
) -> segmentation_pb2.DetectInsertionSlotsResponse:
    """Planar surfaces (walls, screens, boards, posters, floors) as quadrilaterals, in a picture
    or one video frame (edges, region outlines and projective geometry; no model)."""
    rgb, seconds = read_frame(ctx, request)
    response = segmentation_pb2.DetectInsertionSlotsResponse(
        time_seconds=seconds, frame_size=adapters.size_of(rgb)
    )
    wanted = set(request.surfaces) - {segmentation_pb2.INSERTION_SURFACE_UNSPECIFIED}
    with ctx.stage("detect"):
        found = insertion_slots.find_slots(rgb, request.min_area_fraction or DEFAULT_MIN_AREA)
    floor = request.min_score or DEFAULT_MIN_SCORE
    found = [
        s for s in found if s.score >= floor and (not wanted or SURFACE_KINDS[s.kind] in wanted)
    ]
    for slot in found[: request.max_slots or DEFAULT_MAX_SLOTS]:
        entry = response.slots.add(
            surface=SURFACE_KINDS[slot.kind],
            aspect_ratio=slot.aspect_ratio,
            occluded_fraction=slot.occluded_fraction,
            quad=adapters.polygon(slot.corners, slot.score, slot.kind),
        )
        if request.return_masks:
            entry.mask.CopyFrom(ctx.mask_output(slot.visible, request.output.delivery))
    response.metadata.CopyFrom(ctx.metadata())
    return response
