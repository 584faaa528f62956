"""Contract rules checked from descriptors."""

from __future__ import annotations

from common.validation import validate
from vipro.v1 import common_pb2, editing_pb2, enhancement_pb2, jobs_pb2


def fields(message) -> dict[str, str]:
    return {v.field: v.description for v in validate(message)}


def test_required_message_and_oneof():
    out = fields(editing_pb2.ConvertImageRequest())
    assert out == {"image": "is required"}
    out = fields(editing_pb2.ConvertImageRequest(image=common_pb2.Image()))
    assert out == {"image.source": "one of asset_id, inline is required"}


def test_ranges_lengths_and_items():
    request = editing_pb2.ConvertImageRequest(
        image=common_pb2.Image(inline=b"x" * (3 * 1024 * 1024 + 1)), width=16385
    )
    out = fields(request)
    assert out["width"] == "is 16385, must be <= 16384"
    assert out["image.inline"].startswith("has 3145729 bytes")
    region = editing_pb2.EraseRegion(boxes=[common_pb2.Box()] * 257, dilate_pixels=65)
    out = fields(editing_pb2.EraseImageRequest(image=common_pb2.Image(inline=b"x"), region=region))
    assert out["region.boxes"] == "has 257 items, at most 256"
    assert out["region.dilate_pixels"] == "is 65, must be <= 64"


def test_nested_repeated_messages_are_checked_with_their_index():
    region = editing_pb2.EraseRegion(boxes=[common_pb2.Box(width=1), common_pb2.Box(width=-2)])
    out = fields(editing_pb2.EraseImageRequest(image=common_pb2.Image(inline=b"x"), region=region))
    assert out == {"region.boxes[1].width": "is -2, must be >= 0"}


def test_optional_presence_and_maps():
    color = common_pb2.Color(r=300, alpha=1.5)
    out = fields(color)
    assert out == {"r": "is 300, must be <= 255", "alpha": "is 1.5, must be <= 1"}
    labels = {str(i): "v" for i in range(33)}
    packed = jobs_pb2.SubmitJobRequest(method="m", labels=labels)
    packed.request.Pack(common_pb2.Box())
    assert fields(packed) == {"labels": "has 33 items, at most 32"}


def test_valid_message_has_no_violations():
    ok = editing_pb2.ConvertImageRequest(image=common_pb2.Image(asset_id="sha256:" + "0" * 64))
    assert validate(ok) == []


def test_enum_values_outside_the_declared_set():
    """proto3 parses any number into an enum field; handlers then failed with KeyError."""
    request = editing_pb2.ConvertImageRequest(
        image=common_pb2.Image(inline=b"x"), output=common_pb2.OutputOptions(format=7)
    )
    out = fields(request)
    assert out["output.format"].startswith("is 7, not a value of ImageFormat (one of IMAGE_")
    request.output.format = -1
    assert fields(request)["output.format"].startswith("is -1, not a value of ImageFormat")
    region = editing_pb2.EraseRegion(targets=[editing_pb2.ERASE_TARGET_TEXT, 99])
    out = fields(editing_pb2.EraseImageRequest(image=common_pb2.Image(inline=b"x"), region=region))
    assert list(out) == ["region.targets[1]"]


def test_non_finite_floats_are_refused_everywhere():
    """NaN passed min/max (every comparison with NaN is false): Denoise answered OK, black."""
    nan, inf = float("nan"), float("inf")
    request = enhancement_pb2.DenoiseRequest(image=common_pb2.Image(inline=b"x"), sigma=nan)
    assert fields(request) == {"sigma": "is nan, must be a finite number"}
    crop = common_pb2.Box(x=inf, y=-inf, width=1, height=1)  # x/y carry no rules at all
    out = fields(
        editing_pb2.ConvertImageRequest(image=common_pb2.Image(inline=b"x"), width=9, crop=crop)
    )
    assert out == {
        "crop.x": "is inf, must be a finite number",
        "crop.y": "is -inf, must be a finite number",
    }
    palette = common_pb2.Palette(weights=[0.5, nan])
    assert "weights[1]" in next(iter(fields(palette)))
