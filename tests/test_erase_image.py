"""editing.EraseImage through the gateway: caller regions, detected targets, bad requests.

Text is drawn on clean pictures here, so the clean picture is the exact truth of what the
erased region should show.
"""

from __future__ import annotations

import grpc
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from tests.helpers import brick_wall, decoded, png, psnr, violations
from vipro.v1 import common_pb2, editing_pb2, editing_pb2_grpc, segmentation_pb2

Target = editing_pb2.EraseTarget
FONT = ImageFont.load_default(size=40)


@pytest.fixture(scope="module")
def editing(channel) -> editing_pb2_grpc.EditingServiceStub:
    return editing_pb2_grpc.EditingServiceStub(channel)


def erase(stub, pixels: np.ndarray, **region) -> editing_pb2.EraseImageResponse:
    method = region.pop("method", editing_pb2.FILL_METHOD_UNSPECIFIED)
    request = editing_pb2.EraseImageRequest(
        image=common_pb2.Image(inline=png(pixels)),
        region=editing_pb2.EraseRegion(**region),
        method=method,
        output=common_pb2.OutputOptions(format=common_pb2.IMAGE_FORMAT_PNG),
    )
    return stub.EraseImage(request, timeout=120)


def with_text(clean: np.ndarray, lines: list[tuple[int, int, str]]) -> np.ndarray:
    picture = Image.fromarray(clean)
    draw = ImageDraw.Draw(picture)
    for x, y, words in lines:
        draw.text(
            (x, y), words, font=FONT, fill=(250, 250, 250), stroke_width=2, stroke_fill=(10, 10, 10)
        )
    return np.asarray(picture)


def test_caller_boxes_are_filled_from_the_texture_around_them(editing):
    wall = brick_wall(200, 320, seed=3)
    damaged = wall.copy()
    damaged[80:120, 100:180] = (0, 255, 0)
    reply = erase(editing, damaged, boxes=[common_pb2.Box(x=100, y=80, width=80, height=40)])
    out = decoded(reply.image)
    mask = decoded(reply.mask.image) > 0
    assert out.shape == wall.shape
    assert mask[80:120, 100:180].all() and mask.sum() < (48 * 88)  # box grown by 4 px
    assert (out[~mask] == damaged[~mask]).all()
    assert psnr(out, wall, mask) >= 20.0
    assert list(reply.detections) == []
    assert reply.metadata.stage_milliseconds["fill"] > 0


def test_caller_mask_and_telea_and_alpha_kept(editing):
    wall = brick_wall(96, 128, seed=4)
    rgba = np.dstack([wall, np.full(wall.shape[:2], 200, np.uint8)])
    hole = np.zeros(wall.shape[:2], np.uint8)
    hole[40:50, 30:90] = 255
    reply = erase(
        editing,
        rgba,
        mask=common_pb2.Mask(image=common_pb2.Image(inline=png(hole))),
        dilate_pixels=1,
        method=editing_pb2.FILL_METHOD_TELEA,
    )
    out = decoded(reply.image)
    assert out.shape == (96, 128, 4) and (out[..., 3] == 200).all()
    assert (decoded(reply.mask.image) > 0).sum() == (12 * 62) - 4  # grown by a 3x3 disc


def test_boxes_outside_the_frame_erase_nothing(editing):
    wall = brick_wall(64, 64)
    reply = erase(editing, wall, boxes=[common_pb2.Box(x=100, y=100, width=30, height=30)])
    assert (decoded(reply.image) == wall).all()
    assert not decoded(reply.mask.image).any()


@pytest.mark.parametrize(
    ("region", "code", "needle"),
    [
        ({}, grpc.StatusCode.INVALID_ARGUMENT, "region"),
        (
            {
                "mask": common_pb2.Mask(
                    image=common_pb2.Image(inline=png(np.zeros((8, 8), np.uint8)))
                )
            },
            grpc.StatusCode.INVALID_ARGUMENT,
            "region.mask.image",
        ),
        (
            {"boxes": [common_pb2.Box(width=5, height=5)], "method": editing_pb2.FILL_METHOD_MODEL},
            grpc.StatusCode.FAILED_PRECONDITION,
            "inpainting model",
        ),
    ],
)
def test_bad_requests_are_answered_cleanly(editing, region, code, needle):
    with pytest.raises(grpc.RpcError) as err:
        erase(editing, brick_wall(64, 64), **region)
    assert err.value.code() == code
    if code == grpc.StatusCode.INVALID_ARGUMENT:  # from the contract's rules or the handler
        assert needle in violations(err.value)
    else:
        assert needle in err.value.details()


def test_a_truncated_image_is_invalid_argument(editing):
    request = editing_pb2.EraseImageRequest(
        image=common_pb2.Image(inline=png(brick_wall(64, 64))[:200]),
        region=editing_pb2.EraseRegion(boxes=[common_pb2.Box(width=5, height=5)]),
    )
    with pytest.raises(grpc.RpcError) as err:
        editing.EraseImage(request, timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_text_is_found_erased_and_no_longer_detectable(vision_editing, segmentation):
    clean = brick_wall(360, 640, seed=5)
    picture = with_text(clean, [(60, 60, "SUMMER SALE 50%"), (120, 290, "free delivery today")])
    reply = erase(vision_editing, picture, targets=[Target.ERASE_TARGET_TEXT])
    out = decoded(reply.image)
    mask = decoded(reply.mask.image) > 0
    drawn = np.any(picture != clean, axis=2)
    assert len(reply.detections) == 2 and {d.label for d in reply.detections} == {"text"}
    assert mask[drawn].mean() >= 0.98  # every drawn pixel was erased
    assert mask.mean() < 0.2  # glyph strokes, not whole boxes (these fill 0.25)
    assert psnr(out, clean, mask) >= 20.0
    again = segmentation.DetectText(
        segmentation_pb2.DetectTextRequest(image=common_pb2.Image(inline=png(out))), timeout=60
    )
    assert list(again.regions) == []


def test_subtitle_target_erases_captions_only(vision_editing, segmentation):
    clean = brick_wall(360, 640, seed=6)
    picture = with_text(clean, [(40, 40, "OPEN"), (170, 290, "see you tomorrow")])
    reply = erase(vision_editing, picture, targets=[Target.ERASE_TARGET_SUBTITLE])
    out = decoded(reply.image)
    assert [d.label for d in reply.detections] == ["subtitle"]
    left = segmentation.DetectText(
        segmentation_pb2.DetectTextRequest(image=common_pb2.Image(inline=png(out)), recognize=True),
        timeout=60,
    )
    assert [r.text for r in left.regions] == ["OPEN"]
