"""Contract rules checked from descriptors."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator

import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor

import vipro.v1
from common.validation import validate
from vipro.v1 import (
    common_pb2,
    editing_pb2,
    enhancement_pb2,
    generation_pb2,
    jobs_pb2,
    manufacturing_pb2,
    options_pb2,
)

INLINE = common_pb2.Image(inline=b"x")


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


def erase_requests(region: editing_pb2.EraseRegion) -> list:
    """The region in both requests that carry one."""
    return [
        editing_pb2.EraseImageRequest(image=INLINE, region=region),
        editing_pb2.EraseVideoRequest(video=common_pb2.Video(inline=b"x"), region=region),
    ]


def test_at_least_one_names_the_nested_message():
    """The hand-written "names nothing to erase" check, now from the contract, for both RPCs."""
    for request in erase_requests(editing_pb2.EraseRegion(dilate_pixels=4)):
        assert fields(request) == {"region": "give at least one of mask, boxes, targets"}
    for region in [
        editing_pb2.EraseRegion(mask=common_pb2.Mask(image=INLINE)),
        editing_pb2.EraseRegion(boxes=[common_pb2.Box(width=1, height=1)]),
        editing_pb2.EraseRegion(targets=[editing_pb2.ERASE_TARGET_TEXT]),
    ]:
        for request in erase_requests(region):
            assert validate(request) == []


def test_an_unspecified_enum_does_not_count_as_set():
    unspecified = editing_pb2.EraseRegion(targets=[editing_pb2.ERASE_TARGET_UNSPECIFIED] * 2)
    for request in erase_requests(unspecified):
        assert fields(request) == {"region": "give at least one of mask, boxes, targets"}
    mixed = editing_pb2.EraseRegion(
        targets=[editing_pb2.ERASE_TARGET_UNSPECIFIED, editing_pb2.ERASE_TARGET_PERSON]
    )
    for request in erase_requests(mixed):
        assert validate(request) == []


def test_at_least_one_at_the_top_level_names_the_first_field():
    sizes = [common_pb2.Size(width=1200, height=628)]
    empty = generation_pb2.GenerateBannerRequest(sizes=sizes, subline="no headline", logo=INLINE)
    assert fields(empty) == {
        "product_images": "give at least one of product_images, background, headline"
    }
    for given in [{"product_images": [INLINE]}, {"background": INLINE}, {"headline": "Sale"}]:
        assert validate(generation_pb2.GenerateBannerRequest(sizes=sizes, **given)) == []


def test_at_most_one():
    palette = common_pb2.Palette(colors=[common_pb2.Color(r=1)])
    both = manufacturing_pb2.ExpandColorwaysRequest(
        garment=INLINE, palettes=[palette], variant_count=3
    )
    assert fields(both) == {
        "variant_count": "give at most one of palettes, variant_count, "
        "not palettes and variant_count"
    }
    assert validate(manufacturing_pb2.ExpandColorwaysRequest(garment=INLINE, variant_count=3)) == []
    assert validate(enhancement_pb2.ExtendColorsRequest(image=INLINE, reference=INLINE)) == []
    three = enhancement_pb2.ExtendColorsRequest(
        image=INLINE, palettes=[palette], reference=INLINE, variant_count=2
    )
    assert list(fields(three).values()) == [
        "give at most one of palettes, reference, variant_count, "
        "not palettes and reference and variant_count"
    ]


@pytest.mark.parametrize(
    ("start", "end", "ok"),
    [(5, 2, False), (5, 5, False), (5, 0, True), (5, 9.5, True), (0, 0, True)],
)
def test_ordered_fields_unless_the_greater_is_unset(start, end, ok):
    """TimeRange: the end must be after the start; end 0 means the end of the stream."""
    request = erase_requests(editing_pb2.EraseRegion(targets=[editing_pb2.ERASE_TARGET_LOGO]))[1]
    request.time_range.start_seconds, request.time_range.end_seconds = start, end
    broken = f"is {end:g}, must be greater than start_seconds ({start:g})"
    assert fields(request) == ({} if ok else {"time_range.end_seconds": broken})


def _with_nested(desc: Descriptor) -> Iterator[Descriptor]:
    yield desc
    for nested in desc.nested_types:
        yield from _with_nested(nested)


def all_messages() -> Iterator[Descriptor]:
    """Every message of every vipro.v1 contract, nested ones included."""
    for module in pkgutil.iter_modules(vipro.v1.__path__):
        if module.name.endswith("_pb2"):
            file = importlib.import_module(f"vipro.v1.{module.name}").DESCRIPTOR
            for top in file.message_types_by_name.values():
                yield from _with_nested(top)


def test_every_message_rule_names_fields_of_its_message():
    """A misspelt name would fail every request with KeyError (INTERNAL), not at build time."""
    numbers = {
        FieldDescriptor.CPPTYPE_INT32,
        FieldDescriptor.CPPTYPE_INT64,
        FieldDescriptor.CPPTYPE_UINT32,
        FieldDescriptor.CPPTYPE_UINT64,
        FieldDescriptor.CPPTYPE_FLOAT,
        FieldDescriptor.CPPTYPE_DOUBLE,
    }
    ruled = [d for d in all_messages() if d.GetOptions().HasExtension(options_pb2.message_rules)]
    assert len(ruled) >= 6
    for desc in ruled:
        rules = desc.GetOptions().Extensions[options_pb2.message_rules]
        for group in [*rules.at_least_one, *rules.at_most_one]:
            assert len(group.fields) >= 2, desc.full_name
            assert set(group.fields) <= set(desc.fields_by_name), desc.full_name
        for pair in rules.ordered:
            for name in (pair.lesser, pair.greater):
                field = desc.fields_by_name[name]
                assert field.cpp_type in numbers and not field.is_repeated, desc.full_name
