"""generation.ImitateDesign through the gateway, with Triton (DetectText) and the segmentation
and editing services: a reference the engine renders (so its roles are known) is taken apart,
comes back as its own layers, and is imitated with new copy that our own OCR reads back."""

from __future__ import annotations

import io
from pathlib import Path

import grpc
import numpy as np
import pytest
from psd_tools import PSDImage

from bench.banner_scenes import COPY, bottle, bottles, logo
from common.client import AssetClient, connect
from services.generation import colour, imitate, layers, layout, render
from services.generation.decompose import Decomposition
from services.generation.layout import Materials
from services.generation.materials import tight
from tests.helpers import box_iou, decoded, png, violations
from vipro.v1 import (
    common_pb2,
    generation_pb2,
    generation_pb2_grpc,
    production_pb2,
    production_pb2_grpc,
    segmentation_pb2,
)

LAYOUTS = Path(__file__).resolve().parents[1] / "deploy" / "layouts"


@pytest.fixture(scope="module")
def generation(vision_generation) -> generation_pb2_grpc.GenerationServiceStub:
    return vision_generation


@pytest.fixture(scope="module")
def reference(fit) -> tuple[np.ndarray, layout.Layout]:
    """A 1200x628 banner drawn by the engine, and its layout (the truth)."""
    pictures, brand_logo = bottles(), tight(logo())
    headline, subline, action = COPY["en"]
    materials = layout.Materials.of(pictures, brand_logo, headline, subline, action)
    solved = layout.solve(layout.load_families(LAYOUTS), 1200, 628, materials, fit)[0]
    brand = np.array([[40, 110, 200], [200, 60, 80]], np.uint8)
    stack = render.draw(
        solved, render.Assets(pictures, brand_logo, None, colour.harmony(brand), brand, 5)
    )
    return layers.flatten(stack, 1200, 628), solved


def found_boxes(reply, label: str) -> list[tuple[float, float, float, float]]:
    return [
        (b.x, b.y, b.x + b.width, b.y + b.height)
        for b in reply.reference_elements
        if b.label == label
    ]


def test_a_reference_comes_back_as_its_own_layers(generation, vision_mesh, reference):
    rgb, truth = reference
    reply = generation.ImitateDesign(
        generation_pb2.ImitateDesignRequest(
            reference=common_pb2.Image(inline=png(rgb)),
            layered_psd=True,
            output=common_pb2.OutputOptions(format=common_pb2.IMAGE_FORMAT_PNG),
        ),
        timeout=180,
    )
    headline = found_boxes(reply, "headline")
    assert headline and box_iou(headline[0], truth.boxes("headline")[0]) >= 0.5, headline
    assert found_boxes(reply, "call_to_action"), [b.label for b in reply.reference_elements]
    design = reply.designs[0]
    flat = decoded(design.image)[..., :3].astype(int)
    assert flat.shape == rgb.shape
    assert np.abs(flat - rgb.astype(int)).mean() < 6  # the layers recompose the reference
    channel = connect(vision_mesh.gateway_address, vision_mesh.api_key)
    document = PSDImage.open(io.BytesIO(AssetClient(channel).download(design.psd_asset_id)))
    names = [layer.name for layer in document]
    assert names[0] == "background" and "headline" in names


def test_new_copy_and_products_in_the_reference_layout_are_read_back(
    generation, segmentation, reference
):
    rgb, truth = reference
    reply = generation.ImitateDesign(
        generation_pb2.ImitateDesignRequest(
            reference=common_pb2.Image(inline=png(rgb)),
            product_images=[common_pb2.Image(inline=png(bottle(300, 600, (30, 150, 90))))],
            headline="Autumn Deals",
            subline="New flasks for cold days",
            call_to_action="See more",
            output=common_pb2.OutputOptions(format=common_pb2.IMAGE_FORMAT_PNG),
        ),
        timeout=180,
    )
    design = reply.designs[0]
    labels = {b.label for b in design.elements}
    assert {"headline", "subline", "call_to_action", "product"} <= labels
    read = segmentation.DetectText(
        segmentation_pb2.DetectTextRequest(image=design.image, recognize=True), timeout=60
    )
    new_headline = next(b for b in design.elements if b.label == "headline")
    inside = [
        r.text
        for r in read.regions  # in reading order
        if new_headline.x <= r.box.x + r.box.width / 2 <= new_headline.x + new_headline.width
        and new_headline.y <= r.box.y + r.box.height / 2 <= new_headline.y + new_headline.height
    ]
    assert " ".join(inside) == "Autumn Deals", [r.text for r in read.regions]
    # The headline stays on the side the reference's copy was on.
    old = truth.boxes("headline")[0]
    assert (new_headline.x + new_headline.width / 2 > 600) == ((old[0] + old[2]) / 2 > 600)


def test_a_reference_that_is_not_a_picture_is_invalid(generation):
    with pytest.raises(grpc.RpcError) as bad:
        generation.ImitateDesign(
            generation_pb2.ImitateDesignRequest(reference=common_pb2.Image(inline=b"nope")),
            timeout=30,
        )
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "reference" in violations(bad.value)


def test_the_imitate_production_remakes_a_reference_with_new_materials(vision_mesh, reference):
    rgb, _ = reference
    producer = production_pb2_grpc.ProductionServiceStub(
        connect(vision_mesh.gateway_address, vision_mesh.api_key)
    )
    request = production_pb2.ProduceRequest(type=production_pb2.PRODUCTION_TYPE_IMITATE)
    request.materials.add(name="ref", role="reference", image=common_pb2.Image(inline=png(rgb)))
    request.materials.add(
        name="flask", role="product", image=common_pb2.Image(inline=png(bottle(300, 600)))
    )
    request.materials.add(name="h", role="headline", text="Autumn Deals")
    request.params.update({"size": {"width": 600, "height": 600}, "variants": 2})
    reply = producer.Produce(request, timeout=300)
    assert sorted(m.name for m in reply.materials) == ["design-600x600-0", "design-600x600-1"]
    assert [s.capability for s in reply.case.steps] == ["generation.ImitateDesign"]
    data = AssetClient(connect(vision_mesh.gateway_address, vision_mesh.api_key)).download(
        reply.materials[0].image.asset_id
    )
    assert decoded(common_pb2.Image(inline=data)).shape[:2] == (600, 600)


def test_the_imitate_production_without_a_reference_names_what_is_missing(vision_mesh):
    producer = production_pb2_grpc.ProductionServiceStub(
        connect(vision_mesh.gateway_address, vision_mesh.api_key)
    )
    request = production_pb2.ProduceRequest(type=production_pb2.PRODUCTION_TYPE_IMITATE)
    request.materials.add(name="h", role="headline", text="Autumn Deals")
    with pytest.raises(grpc.RpcError) as info:
        producer.Produce(request, timeout=60)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "roles.reference" in info.value.details()


def test_a_reference_made_in_another_aspect_keeps_its_arrangement_and_fills_the_shape(fit):
    # A 1200x628 reference: products on the left, copy on the right, logo top-left.
    reference = Decomposition(1200, 628, align="start")
    reference.roles = [
        ("product", (88, 154, 292, 589)),
        ("product", (397, 300, 589, 595)),
        ("headline", (674, 63, 1161, 331)),
        ("subline", (674, 368, 1079, 481)),
        ("call_to_action", (674, 496, 900, 589)),
        ("logo", (33, 32, 201, 93)),
    ]
    family = imitate.as_family(reference)
    assert family is not None and family.axis == "row" and family.logo == ("top-start",)
    assert [z.holds for z in family.zones] == ["product", "copy"]
    materials = Materials((0.5, 0.8), 2.5, "Fresh picks for autumn", "New arrivals", "See more")
    (made,) = imitate.layouts(reference, materials, 1080, 1080, fit, [], 1.0, 1)
    scaled = imitate.transfer(reference, materials, 1080, 1080, fit)
    area = lambda lay: sum((b[2] - b[0]) * (b[3] - b[1]) for b in lay.boxes("product"))  # noqa: E731
    assert made.boxes("headline")[0][0] > max(b[2] for b in made.boxes("product"))  # order kept
    assert area(made) > 1.3 * area(scaled)
