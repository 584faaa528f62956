"""segmentation.SegmentPerson and segmentation.DetectFaces through the gateway, on a real Triton."""

from __future__ import annotations

import io

import grpc
import numpy as np
import pytest
from PIL import Image

from services.segmentation import person
from tests.helpers import picture, png
from vipro.v1 import common_pb2, segmentation_pb2

Form = segmentation_pb2.CutoutForm


@pytest.fixture(scope="module")
def stub(segmentation):
    return segmentation


def cut(stub, pixels: np.ndarray, **fields) -> segmentation_pb2.SegmentPersonResponse:
    forms = [Form.CUTOUT_FORM_MASK, Form.CUTOUT_FORM_ALPHA]
    return stub.SegmentPerson(
        segmentation_pb2.SegmentPersonRequest(
            image=common_pb2.Image(inline=png(pixels)),
            cutout=segmentation_pb2.CutoutOptions(forms=forms),
            **fields,
        ),
        timeout=60,
    )


def mask_of(reply) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(reply.cutout.mask.image.inline))) > 0


# (x, y) points, in 512x512 pixels, on the person and on the background of each picture.
POINTS = {
    "astronaut.png": {
        "person": [(227, 93), (227, 40), (200, 373), (120, 300)],
        "background": [(413, 133), (27, 133), (480, 27), (400, 60)],
    },
    "camera.png": {
        "person": [(208, 133), (70, 330), (150, 230)],
        "background": [(421, 53), (421, 400), (40, 60)],
    },
}


@pytest.mark.parametrize("name", sorted(POINTS))
def test_the_person_is_cut_out_and_the_background_is_not(stub, name):
    reply = cut(stub, picture(name))
    mask = mask_of(reply)
    assert mask.shape == (512, 512)
    for x, y in POINTS[name]["person"]:
        assert mask[y, x], (name, "person", x, y)
    for x, y in POINTS[name]["background"]:
        assert not mask[y, x], (name, "background", x, y)
    assert 0.15 < mask.mean() < 0.6
    assert reply.people[0].label == "person" and reply.people[0].score > 0.7
    alpha = np.asarray(Image.open(io.BytesIO(reply.cutout.alpha.image.inline)))
    assert ((alpha > 0) & (alpha < 255)).any()  # matted edges, not a hard mask


def test_any_aspect_ratio_and_size(stub):
    wide = np.concatenate([picture("astronaut.png")] * 2, axis=1)[::2, ::2]  # 256x512
    reply = cut(stub, wide, separate_people=True)
    mask = mask_of(reply)
    assert mask.shape == (256, 512)
    assert mask[93 // 2, 227 // 2] and mask[93 // 2, 256 + 227 // 2]
    assert len(reply.people) == 2
    assert person.choose_model((256, 512))[0] == "selfie_segmentation_landscape"


def test_unserved_part_is_failed_precondition(stub):
    with pytest.raises(grpc.RpcError) as err:
        cut(stub, picture("camera.png"), part=segmentation_pb2.PERSON_PART_HAIR)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "PERSON_PART_HAIR" in err.value.details()


def test_letterbox_round_trip_keeps_geometry():
    rgb = np.zeros((300, 100, 3), np.uint8)
    rgb[:, 50:] = 255
    batch, box = person.letterbox(rgb)
    assert batch.shape == (1, 256, 256, 3) and box.inner_height == 256
    back = person.probability(batch[..., :1], box, (300, 100))
    assert back.shape == (300, 100)
    assert back[:, :45].max() == 0 and back[:, 55:].min() == 1


def detect(stub, pixels: np.ndarray, **fields) -> segmentation_pb2.DetectFacesResponse:
    return stub.DetectFaces(
        segmentation_pb2.DetectFacesRequest(image=common_pb2.Image(inline=png(pixels)), **fields),
        timeout=60,
    )


# Eyes and mouth of each portrait in 512x512 pixels, checked by drawing them on the pictures.
# The photographer is in profile: only his visible eye is given, and eye positions are
# compared only for the frontal astronaut.
FACES = {
    "astronaut.png": {"eyes": [(204, 102), (248, 107)], "mouth": (220, 147)},
    "camera.png": {"eyes": [(225, 147)], "mouth": (234, 184)},
}


@pytest.mark.parametrize("name", sorted(FACES))
def test_one_face_with_its_key_points(stub, name):
    reply = detect(stub, picture(name))
    assert len(reply.faces) == 1
    face = reply.faces[0]
    box = face.box
    truth = FACES[name]
    for x, y in [*truth["eyes"], truth["mouth"]]:
        assert box.x <= x <= box.x + box.width and box.y <= y <= box.y + box.height
    assert 0.6 <= box.score <= 1 and box.label == "face"
    left_eye, right_eye, nose, mouth_left, mouth_right = face.landmarks
    assert left_eye.x < right_eye.x and mouth_left.x < mouth_right.x
    if len(truth["eyes"]) == 2:
        for point, (x, y) in zip([left_eye, right_eye], truth["eyes"], strict=True):
            assert abs(point.x - x) < 10 and abs(point.y - y) < 10
    assert left_eye.y < nose.y < (mouth_left.y + mouth_right.y) / 2


def test_faces_follow_the_picture_when_padded_and_scaled(stub):
    base = picture("astronaut.png")
    canvas = np.zeros((512, 1536, 3), np.uint8)
    canvas[:, 1024:] = base
    face = detect(stub, canvas).faces[0]
    assert 1024 + 170 < face.box.x < 1024 + 230
    none = detect(stub, canvas, landmarks=segmentation_pb2.FACE_LANDMARKS_NONE).faces[0]
    assert len(none.landmarks) == 0 and len(face.landmarks) == 5


def test_no_face_in_a_product_photo_and_68_points_is_failed_precondition(stub):
    rng = np.random.default_rng(0)
    flat = (rng.random((256, 256, 3)) * 30 + 200).astype(np.uint8)
    assert len(detect(stub, flat).faces) == 0
    with pytest.raises(grpc.RpcError) as err:
        detect(stub, flat, landmarks=segmentation_pb2.FACE_LANDMARKS_68)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
