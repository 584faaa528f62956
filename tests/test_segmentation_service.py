"""segmentation.SegmentObject and segmentation.Matte through the gateway (real processes)."""

from __future__ import annotations

import io

import cv2
import grpc
import numpy as np
import pytest
from PIL import Image

from bench.fuzz import png_claiming
from bench.product_scenes import make_scene
from common.errors import decode_details
from tests.helpers import decoded, iou
from vipro.v1 import common_pb2, segmentation_pb2, segmentation_pb2_grpc

Form = segmentation_pb2.CutoutForm
ALL_FORMS = [
    Form.CUTOUT_FORM_MASK,
    Form.CUTOUT_FORM_ALPHA,
    Form.CUTOUT_FORM_RGBA,
    Form.CUTOUT_FORM_ON_BACKGROUND,
    Form.CUTOUT_FORM_CROP,
]


@pytest.fixture(scope="module")
def stub(channel):
    return segmentation_pb2_grpc.SegmentationServiceStub(channel)


def encode(pixels: np.ndarray, mode: str | None = None, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    image = Image.fromarray(pixels)
    if mode == "P":  # an adaptive palette, as graphics tools write palette PNGs
        image = image.quantize(64, dither=Image.Dither.NONE)
    elif mode:
        image = image.convert(mode)
    image.save(buf, fmt)
    return buf.getvalue()


def segment(stub, data: bytes, **fields) -> segmentation_pb2.SegmentObjectResponse:
    request = segmentation_pb2.SegmentObjectRequest(
        image=common_pb2.Image(inline=data),
        mode=segmentation_pb2.SEGMENT_OBJECT_MODE_COMMODITY,
        **fields,
    )
    return stub.SegmentObject(request, timeout=60)


def test_product_cutout_in_every_form_round_trips(stub):
    scene = make_scene("shadow", 1)
    h, w = scene.alpha.shape
    options = segmentation_pb2.CutoutOptions(
        forms=ALL_FORMS,
        background=common_pb2.Color(r=0, g=0, b=255),
        crop_margin_pixels=10,
    )
    reply = segment(stub, encode(scene.image), cutout=options)
    truth = scene.alpha >= 0.5
    mask = decoded(reply.cutout.mask.image)
    alpha = decoded(reply.cutout.alpha.image).astype(np.float64) / 255
    rgba = decoded(reply.cutout.rgba)
    composite = decoded(reply.cutout.on_background)
    crop = decoded(reply.cutout.crop)
    assert mask.shape == alpha.shape == (h, w) and rgba.shape == (h, w, 4)
    assert composite.shape == (h, w, 3)
    assert set(np.unique(mask)) <= {0, 255}
    assert iou(mask > 0, truth) >= 0.95
    assert np.abs(alpha - scene.alpha).sum() < np.abs((mask > 0) - scene.alpha).sum()
    assert np.array_equal(rgba[..., 3], decoded(reply.cutout.alpha.image))
    # Straight alpha: opaque pixels keep the image's colours; the composite is alpha-weighted.
    opaque = rgba[..., 3] == 255
    assert np.abs(rgba[opaque][:, :3].astype(int) - scene.image[opaque]).max() <= 2
    outside = alpha == 0
    assert (composite[outside] == [0, 0, 255]).all()
    box = reply.cutout.crop_box
    ys, xs = np.nonzero(alpha > 0)
    assert box.x == max(0, xs.min() - 10) and box.y == max(0, ys.min() - 10)
    assert crop.shape == (box.height, box.width, 4)
    assert reply.image_size.width == w and reply.image_size.height == h
    assert reply.objects[0].label == "product" and reply.objects[0].score > 0.5
    assert {"decode", "segment", "matte", "encode"} <= set(reply.metadata.stage_milliseconds)


def test_separate_objects_and_region(stub):
    scene = make_scene("white", 2, size=(256, 320))
    both = np.concatenate([scene.image, scene.image[:, ::-1]], axis=1)
    reply = segment(
        stub,
        encode(both),
        max_objects=3,
        separate_objects=True,
        cutout=segmentation_pb2.CutoutOptions(forms=[Form.CUTOUT_FORM_MASK]),
    )
    assert len(reply.objects) == 2
    lefts = sorted(o.box.x for o in reply.objects)
    assert lefts[0] < 320 <= lefts[1]
    for obj in reply.objects:
        own = decoded(obj.cutout.mask.image) > 0
        assert own[:, :320].any() != own[:, 320:].any()  # each cut-out holds one product
    region = common_pb2.Box(x=320, y=0, width=320, height=256)
    right = segment(stub, encode(both), region=region)
    assert len(right.objects) == 1 and right.objects[0].box.x >= 320
    alpha = decoded(right.cutout.rgba)[..., 3]
    assert alpha.shape == (256, 640) and not alpha[:, :320].any()


def test_matte_from_mask_and_trimap(stub):
    scene = make_scene("texture", 3)
    h, w = scene.alpha.shape
    truth = scene.alpha >= 0.5
    coarse = cv2.erode(truth.astype(np.uint8) * 255, np.ones((5, 5), np.uint8))
    reply = stub.Matte(
        segmentation_pb2.MatteRequest(
            image=common_pb2.Image(inline=encode(scene.image)),
            mask=common_pb2.Mask(image=common_pb2.Image(inline=encode(coarse))),
            unknown_band_pixels=8,
            estimate_foreground=True,
            cutout=segmentation_pb2.CutoutOptions(forms=[Form.CUTOUT_FORM_ALPHA]),
        ),
        timeout=60,
    )
    alpha = decoded(reply.cutout.alpha.image) / 255.0
    assert np.abs(alpha - scene.alpha).sum() < 0.5 * np.abs(coarse / 255.0 - scene.alpha).sum()
    assert decoded(reply.foreground).shape == (h, w, 3)
    trimap = np.where(truth, 255, 0).astype(np.uint8)
    trimap[
        cv2.dilate(truth.astype(np.uint8), np.ones((9, 9)))
        != cv2.erode(truth.astype(np.uint8), np.ones((9, 9)))
    ] = 128
    by_trimap = stub.Matte(
        segmentation_pb2.MatteRequest(
            image=common_pb2.Image(inline=encode(scene.image)),
            trimap=common_pb2.Mask(image=common_pb2.Image(inline=encode(trimap))),
            cutout=segmentation_pb2.CutoutOptions(forms=[Form.CUTOUT_FORM_ALPHA]),
        ),
        timeout=60,
    )
    alpha = decoded(by_trimap.cutout.alpha.image) / 255.0
    assert (alpha[trimap == 255] == 1).all() and (alpha[trimap == 0] == 0).all()


def picture() -> np.ndarray:
    return make_scene("colour", 5, size=(96, 128)).image


def jpeg_truncated() -> bytes:
    data = encode(picture(), fmt="JPEG")
    return data[: len(data) // 2]


@pytest.mark.parametrize(
    ("data", "code", "needle"),
    [
        (b"", grpc.StatusCode.INVALID_ARGUMENT, "image"),
        (encode(np.zeros((1, 1, 3), np.uint8)), grpc.StatusCode.INVALID_ARGUMENT, "1x1"),
        (png_claiming(20000, 20000), grpc.StatusCode.RESOURCE_EXHAUSTED, "20000x20000"),
        (jpeg_truncated(), grpc.StatusCode.INVALID_ARGUMENT, "truncated"),
        (b"%PDF-1.7 this is not an image", grpc.StatusCode.INVALID_ARGUMENT, "not a"),
    ],
    ids=["empty", "1x1", "bomb", "truncated-jpeg", "not-an-image"],
)
def test_bad_images_are_answered_cleanly(stub, data, code, needle):
    with pytest.raises(grpc.RpcError) as err:
        segment(stub, data)
    assert err.value.code() == code
    assert needle.lower() in err.value.details().lower()
    assert decode_details(err.value)  # a structured detail (BadRequest / QuotaFailure)


@pytest.mark.parametrize("mode", ["CMYK", "I;16", "L", "P"])
def test_other_pixel_formats_are_converted(stub, mode):
    rgb = picture()
    if mode == "I;16":
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.uint16) * 257
        data = encode(grey)
    else:
        data = encode(rgb, mode, fmt="JPEG" if mode == "CMYK" else "PNG")
    reply = segment(
        stub, data, cutout=segmentation_pb2.CutoutOptions(forms=[Form.CUTOUT_FORM_MASK])
    )
    mask = decoded(reply.cutout.mask.image)
    assert mask.shape == (96, 128) and mask.any()


def test_mask_of_the_wrong_size_names_the_field(stub):
    with pytest.raises(grpc.RpcError) as err:
        stub.Matte(
            segmentation_pb2.MatteRequest(
                image=common_pb2.Image(inline=encode(picture())),
                mask=common_pb2.Mask(
                    image=common_pb2.Image(inline=encode(np.zeros((10, 10), np.uint8)))
                ),
            ),
            timeout=30,
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "mask.image" in err.value.details() and "must match" in err.value.details()


def test_region_outside_the_image_is_invalid(stub):
    with pytest.raises(grpc.RpcError) as err:
        segment(stub, encode(picture()), region=common_pb2.Box(x=500, y=0, width=50, height=50))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "region" in err.value.details()
