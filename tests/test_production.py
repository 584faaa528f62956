"""Produce: recipes dispatched over real services."""

from __future__ import annotations

import cv2
import grpc
import numpy as np
import pytest
from google.rpc import error_details_pb2

from bench.banner_scenes import bottle, logo
from common.client import AssetClient
from common.errors import decode_details
from tests.helpers import png, two_colour_png
from vipro.v1 import common_pb2, production_pb2, production_pb2_grpc


@pytest.fixture(scope="module")
def producer(channel):
    return production_pb2_grpc.ProductionServiceStub(channel)


def assert_sized_outputs(reply, assets: AssetClient, names: list[str]) -> None:
    """The outputs are the ``names`` ("<material>-<W>x<H>"), each an asset (so replies and
    case records stay small) that decodes to its size."""
    assert sorted(m.name for m in reply.materials) == names
    for material in reply.materials:
        w, h = map(int, material.name.split("-")[1].split("x"))
        data = assets.download(material.image.asset_id)
        decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        assert decoded.shape[:2] == (h, w)


def test_general_production_designs_every_product_in_every_size(producer, assets):
    request = production_pb2.ProduceRequest(type=production_pb2.PRODUCTION_TYPE_GENERAL)
    request.params.update({"sizes": [{"width": 300, "height": 250}, {"width": 728, "height": 90}]})
    request.materials.add(name="a", role="product", image=common_pb2.Image(inline=png(bottle())))
    request.materials.add(
        name="b", role="product", image=common_pb2.Image(inline=png(bottle(60, 120, (200, 60, 80))))
    )
    request.materials.add(name="h", role="headline", text="Summer Sale")
    reply = producer.Produce(request, timeout=120)
    assert_sized_outputs(reply, assets, ["a-300x250", "a-728x90", "b-300x250", "b-728x90"])
    assert [s.capability for s in reply.case.steps] == ["generation.GenerateBanner"] * 2
    assert all(s.status == "OK" for s in reply.case.steps)
    stored = producer.GetCase(production_pb2.GetCaseRequest(case_id=reply.case.case_id)).case
    assert stored.case_id == reply.case.case_id and len(stored.outputs) == 4
    listed = producer.ListCases(production_pb2.ListCasesRequest()).cases
    assert reply.case.case_id in [c.case_id for c in listed]


def test_assemble_production_lays_materials_by_role_into_every_size(producer, assets):
    request = production_pb2.ProduceRequest(type=production_pb2.PRODUCTION_TYPE_ASSEMBLE)
    request.params.update(
        {
            "sizes": [{"width": 1200, "height": 628}, {"width": 300, "height": 600}],
            "variants": 2,
            "layered_psd": True,
            "seed": 3,
        }
    )
    product = request.products.add(product_id="sku-1")
    product.images.add(inline=png(bottle()))
    request.materials.add(name="logo", role="logo", image=common_pb2.Image(inline=png(logo())))
    for role, text in (("headline", "Summer Sale"), ("call_to_action", "Shop now")):
        request.materials.add(name=role, role=role, text=text)
    reply = producer.Produce(request, timeout=120)
    assert [m.name for m in reply.materials] == [
        "banner-1200x628-0",
        "banner-1200x628-1",
        "banner-300x600-0",
        "banner-300x600-1",
    ]
    for material in reply.materials:
        assert material.role == "banner"
        psd = assets.download(material.labels["psd_asset_id"])
        assert psd[:4] == b"8BPS"
    (call,) = reply.case.steps
    assert call.capability == "generation.GenerateBanner" and call.status == "OK"


def test_resize_recipe_resizes_every_material_to_every_size(producer, assets):
    request = production_pb2.ProduceRequest(
        type=production_pb2.PRODUCTION_TYPE_GENERAL, recipe="resize"
    )
    request.params.update({"sizes": [{"width": 64, "height": 64}, {"width": 120, "height": 40}]})
    request.materials.add(
        name="a", role="product", image=common_pb2.Image(inline=two_colour_png(300, 200))
    )
    request.materials.add(
        name="b", role="product", image=common_pb2.Image(inline=two_colour_png(50, 80))
    )
    reply = producer.Produce(request, timeout=30)
    assert_sized_outputs(reply, assets, ["a-120x40", "a-64x64", "b-120x40", "b-64x64"])
    assert [s.capability for s in reply.case.steps] == ["editing.ConvertImage"] * 4


def test_recipe_with_a_missing_capability_is_failed_precondition(producer):
    request = production_pb2.ProduceRequest(type=production_pb2.PRODUCTION_TYPE_EXTEND)
    request.materials.add(name="a", image=common_pb2.Image(inline=two_colour_png(10, 10)))
    with pytest.raises(grpc.RpcError) as info:
        producer.Produce(request, timeout=30)
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "editing.ExtendImage" in info.value.details()
    failures = [
        d
        for d in decode_details(info.value)
        if isinstance(d, error_details_pb2.PreconditionFailure)
    ]
    assert [v.subject for v in failures[0].violations] == ["editing.ExtendImage"]


def test_a_failing_step_reports_its_step_and_code(producer):
    request = production_pb2.ProduceRequest(type=production_pb2.PRODUCTION_TYPE_GENERAL)
    request.materials.add(name="bad", image=common_pb2.Image(inline=b"not an image"))
    with pytest.raises(grpc.RpcError) as info:
        producer.Produce(request, timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "step design" in info.value.details()


def test_a_production_with_nothing_to_work_on_says_so(producer):
    request = production_pb2.ProduceRequest(type=production_pb2.PRODUCTION_TYPE_GENERAL)
    request.materials.add(name="h", role="headline", text="Summer Sale")
    with pytest.raises(grpc.RpcError) as info:
        producer.Produce(request, timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "nothing to work on" in info.value.details()
    fields = [v.field for d in decode_details(info.value) for v in d.field_violations]
    assert fields == ["recipe.design"]


def test_missing_type_is_invalid(producer):
    with pytest.raises(grpc.RpcError) as info:
        producer.Produce(production_pb2.ProduceRequest(), timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize(
    ("fields", "params", "needle"),
    [
        ({"type": 99}, {}, "type"),
        ({"type": production_pb2.PRODUCTION_TYPE_GENERAL}, {"sizes": 5}, "recipe.design"),
        (
            {"type": production_pb2.PRODUCTION_TYPE_GENERAL, "recipe": "resize"},
            {"sizes": [{"width": 8, "height": 8}] * 300},
            "at most 256",
        ),
        ({"type": production_pb2.PRODUCTION_TYPE_GENERAL, "recipe": "nope"}, {}, "recipe"),
    ],
)
def test_bad_productions_are_invalid_argument(producer, fields, params, needle):
    request = production_pb2.ProduceRequest(**fields)
    request.params.update(params)
    request.materials.add(name="a", image=common_pb2.Image(inline=two_colour_png(10, 10)))
    with pytest.raises(grpc.RpcError) as info:
        producer.Produce(request, timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    fields = [v.field for d in decode_details(info.value) for v in d.field_violations]
    assert needle in info.value.details() or needle in fields


def test_a_failing_step_keeps_the_instance_details(producer):
    request = production_pb2.ProduceRequest(type=production_pb2.PRODUCTION_TYPE_GENERAL)
    request.materials.add(name="bad", image=common_pb2.Image(inline=b"not an image"))
    with pytest.raises(grpc.RpcError) as info:
        producer.Produce(request, timeout=30)
    bad = [d for d in decode_details(info.value) if isinstance(d, error_details_pb2.BadRequest)]
    assert bad and bad[0].field_violations[0].field == "product_images[0]"
