"""segmentation.DetectInsertionSlots on synthetic rooms whose surfaces are known exactly
(bench/room_scenes.py): quadrilaterals, kinds, real aspect ratios, occlusion, video frames."""

from __future__ import annotations

import io

import av
import cv2
import grpc
import numpy as np
import pytest
from PIL import Image

from bench.room_scenes import make_room, make_wall
from services.segmentation import insertion_slots
from tests.helpers import png
from vipro.v1 import common_pb2, segmentation_pb2, segmentation_pb2_grpc

Surface = segmentation_pb2.InsertionSurface
KIND = {
    "poster": Surface.INSERTION_SURFACE_POSTER,
    "screen": Surface.INSERTION_SURFACE_SCREEN,
    "board": Surface.INSERTION_SURFACE_BOARD,
    "wall": Surface.INSERTION_SURFACE_WALL,
}


@pytest.fixture(scope="module")
def stub(channel):
    return segmentation_pb2_grpc.SegmentationServiceStub(channel)


def quad_iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.float32), b.astype(np.float32)
    inter, _ = cv2.intersectConvexConvex(a, b)
    return float(inter / (cv2.contourArea(a) + cv2.contourArea(b) - inter))


def match(truth, quad: np.ndarray) -> float:
    """IoU with the surface, frame included or not (both are right answers)."""
    return max(quad_iou(quad, truth.corners), quad_iou(quad, truth.inner))


def corners(slot: segmentation_pb2.InsertionSlot) -> np.ndarray:
    return np.array([[p.x, p.y] for p in slot.quad.points], np.float32)


def detect(stub, **fields) -> segmentation_pb2.DetectInsertionSlotsResponse:
    return stub.DetectInsertionSlots(
        segmentation_pb2.DetectInsertionSlotsRequest(**fields), timeout=60
    )


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_hung_surfaces_are_found_with_their_kind_and_shape(stub, seed):
    room = make_room(seed)
    reply = detect(stub, image=common_pb2.Image(inline=png(room.image)), max_slots=20)
    assert reply.frame_size.width == 960 and reply.frame_size.height == 540
    slots = list(reply.slots)
    assert [s.quad.score for s in slots] == sorted((s.quad.score for s in slots), reverse=True)
    for truth in room.surfaces:
        best = max(slots, key=lambda s: match(truth, corners(s)))
        assert match(truth, corners(best)) >= 0.9, truth.kind
        assert best.surface == KIND[truth.kind]
        assert best.aspect_ratio == pytest.approx(truth.aspect_ratio, rel=0.2)
        assert best.quad.score >= 0.5 and best.occluded_fraction <= 0.12
    # The whole frame is no answer: a method returning it fails the IoU above.
    frame = np.array([[0, 0], [960, 0], [960, 540], [0, 540]], np.float32)
    assert all(match(t, frame) < 0.2 for t in room.surfaces)


@pytest.mark.parametrize("seed,kind", [(0, "board"), (4, "board"), (5, "screen")])
def test_occluded_surface_keeps_its_corners_and_reports_the_hidden_part(stub, seed, kind):
    room = make_room(seed, occlude=kind)
    truth = next(t for t in room.surfaces if t.kind == kind)
    assert truth.occluded_fraction >= 0.08
    reply = detect(
        stub, image=common_pb2.Image(inline=png(room.image)), max_slots=20, return_masks=True
    )
    best = max(reply.slots, key=lambda s: match(truth, corners(s)))
    assert match(truth, corners(best)) >= 0.8
    assert best.surface == KIND[kind]
    assert best.occluded_fraction == pytest.approx(truth.occluded_fraction, abs=0.06)
    visible = np.asarray(Image.open(io.BytesIO(best.mask.image.inline))) > 0
    assert visible.shape == truth.visible.shape
    hidden = insertion_slots.quad_mask(truth.corners, visible.shape) & ~truth.visible
    assert (visible & hidden).sum() <= 0.25 * hidden.sum()  # most of the plant is left out


def test_filters_kinds_count_and_area(stub):
    room = make_room(1)
    image = common_pb2.Image(inline=png(room.image))
    screens = detect(stub, image=image, surfaces=[Surface.INSERTION_SURFACE_SCREEN])
    assert [s.surface for s in screens.slots] == [Surface.INSERTION_SURFACE_SCREEN]
    assert len(detect(stub, image=image, max_slots=1).slots) == 1
    assert len(detect(stub, image=image, min_area_fraction=0.9).slots) == 0


def test_empty_wall_is_a_wall_slot():
    room = make_wall(3)
    truth = room.surfaces[0]
    slots = insertion_slots.find_slots(room.image)
    walls = [s for s in slots if s.kind == "wall" and s.score >= 0.5]
    assert walls and quad_iou(walls[0].corners, truth.corners) >= 0.8


def clip(frames: list[np.ndarray], fps: int = 10) -> bytes:
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return buf.getvalue()


def test_video_frame_at_the_asked_time(stub):
    first, second = make_room(2), make_room(7)
    data = clip([first.image] * 10 + [second.image] * 10)
    for seconds, room in ((0.3, first), (1.5, second)):
        reply = detect(stub, video=common_pb2.Video(inline=data), time_seconds=seconds)
        assert reply.time_seconds == pytest.approx(seconds, abs=0.051)
        screen = next(t for t in room.surfaces if t.kind == "screen")
        assert max(match(screen, corners(s)) for s in reply.slots) >= 0.9


@pytest.mark.parametrize(
    "source,field",
    [
        ({"video": common_pb2.Video(inline=b"")}, "video"),
        ({"video": common_pb2.Video(inline=b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64)}, "video"),
        ({"image": common_pb2.Image(inline=b"GIF89a")}, "image"),
    ],
)
def test_bad_sources_are_invalid_argument(stub, source, field):
    with pytest.raises(grpc.RpcError) as err:
        detect(stub, **source)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in err.value.details()


def test_audio_only_file_has_no_video_stream(stub):
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=16000)
        samples = np.zeros((1, 16000), np.float32)
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        frame.sample_rate = 16000
        container.mux(stream.encode(frame))
        container.mux(stream.encode())
    with pytest.raises(grpc.RpcError) as err:
        detect(stub, video=common_pb2.Video(inline=buf.getvalue()))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "no video stream" in err.value.details()


# Geometry alone ------------------------------------------------------------------------------


def test_aspect_ratio_is_exact_for_exact_corners():
    for seed in range(5):
        room = make_room(seed)
        h, w = room.image.shape[:2]
        for truth in room.surfaces:
            focal = insertion_slots.focal_length(truth.corners, (h, w))
            assert focal == pytest.approx(1.1 * w, rel=1e-3)
            ratio = insertion_slots.aspect_ratio(truth.corners, (h, w), focal)
            assert ratio == pytest.approx(truth.aspect_ratio, rel=1e-3)


def test_fit_quad_restores_a_hidden_corner():
    outline = np.zeros((200, 300), np.uint8)
    square = np.array([[50, 40], [250, 40], [250, 160], [50, 160]], np.int32)
    cv2.fillPoly(outline, [square], 1)
    cv2.circle(outline, (250, 160), 50, 0, -1)  # an occluder bites the bottom-right corner
    contours, _ = cv2.findContours(outline, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    quad = insertion_slots.fit_quad(contours[0])
    assert quad is not None
    np.testing.assert_allclose(quad, square, atol=2.5)


def test_largest_rectangle():
    mask = np.zeros((20, 30), bool)
    mask[2:12, 3:9] = True  # 60
    mask[5:18, 10:28] = True  # 234
    assert insertion_slots.largest_rectangle(mask) == (10, 5, 18, 13)
    assert insertion_slots.largest_rectangle(np.zeros((4, 4), bool)) is None
