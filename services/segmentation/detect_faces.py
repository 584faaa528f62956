"""segmentation.DetectFaces: faces with boxes, five key points and a rough head pose
(BlazeFace short and full range on Triton, merged: :mod:`.faces`)."""

from __future__ import annotations

import numpy as np

from common import adapters
from common.admission import MemoryCost
from common.errors import FailedPrecondition
from common.provider import CallContext, capability
from services.segmentation import faces
from services.segmentation.shared import read_picture
from vipro.v1 import segmentation_pb2

DEFAULT_MIN_SCORE = 0.6
DEFAULT_MIN_FACE_PIXELS = 16


def find_faces(ctx: CallContext, rgb: np.ndarray, min_score: float) -> list[faces.Face]:
    """Faces found by both BlazeFace models on Triton, merged, best first."""
    detections = []
    for model, size, layers in (faces.SHORT, faces.FULL):
        ctx.inference.require(model)
        batch, scale, left, top = faces.letterbox(rgb, size)
        with ctx.stage("infer"):
            out = ctx.inference.infer(
                model, {"image": batch}, ["regressors", "scores"], timeout=ctx.remaining()
            )
        boxes, scores, points = faces.decode(
            out["regressors"], out["scores"], size, layers, min_score
        )
        boxes, points = faces.to_picture(boxes, points, scale, left, top)
        detections.append((boxes, scores, points))
    return faces.merge(detections)


@capability(
    "segmentation.DetectFaces",
    version="1.0.0",
    models=(faces.SHORT[0], faces.FULL[0]),
    memory=MemoryCost(per_pixel=18),
)
def detect_faces(
    request: segmentation_pb2.DetectFacesRequest, ctx: CallContext
) -> segmentation_pb2.DetectFacesResponse:
    """Faces with boxes, five key points and a rough head pose (BlazeFace short and full range
    on Triton, merged)."""
    if request.landmarks == segmentation_pb2.FACE_LANDMARKS_68:
        raise FailedPrecondition(
            "FACE_LANDMARKS_68 needs a 68-point landmark model, which this deployment does not "
            "have; FACE_LANDMARKS_FIVE and FACE_LANDMARKS_NONE are served",
            [("MODEL", "face-landmarks-68")],
        )
    rgb = read_picture(ctx, request.image)
    smallest = request.min_face_pixels or DEFAULT_MIN_FACE_PIXELS
    found = [
        f
        for f in find_faces(ctx, rgb, request.min_score or DEFAULT_MIN_SCORE)
        if min(f.box[2:]) >= smallest
    ]
    if request.max_faces:
        found = found[: request.max_faces]
    response = segmentation_pb2.DetectFacesResponse(image_size=adapters.size_of(rgb))
    for face in found:
        yaw, pitch, roll = faces.pose(face.keypoints)
        entry = response.faces.add(yaw_degrees=yaw, pitch_degrees=pitch, roll_degrees=roll)
        entry.box.CopyFrom(adapters.box(*face.box, face.score, "face"))
        if request.landmarks != segmentation_pb2.FACE_LANDMARKS_NONE:
            for px, py in faces.five_points(face.keypoints):
                entry.landmarks.add(x=px, y=py)
    response.metadata.CopyFrom(ctx.metadata())
    return response
