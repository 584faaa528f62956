"""Memory-aware admission: inputs are refused from their headers before decoding when the
capability's measured cost does not fit the process budget; short files claiming huge sizes
never decode; Triton keeps serving."""

from __future__ import annotations

import io
import threading
import time

import cv2
import grpc
import numpy as np
import pytest
from PIL import Image

from bench.fuzz import FORGED, FORGED_SIDE, complete_png, forged_jpeg
from bench.memory import peak_growth
from common import media, triton
from common.admission import MemoryBudget, parse_bytes
from common.client import AssetClient, connect
from common.errors import InvalidArgument, ResourceExhausted, decode_details
from common.mesh import Mesh
from vipro.v1 import (
    common_pb2,
    editing_pb2,
    enhancement_pb2,
    segmentation_pb2,
)

BUDGET = 1 << 30


def test_a_short_jpeg_is_refused_and_admission_runs_before_decoding():
    with pytest.raises(InvalidArgument, match=r"48[0-9]{3}-byte JPEG claiming 10000x10000"):
        media.decode_image(forged_jpeg())
    seen = []

    def refuse(width: int, height: int) -> None:
        seen.append((width, height))
        raise ResourceExhausted("no room", subject="image")

    with pytest.raises(ResourceExhausted):
        media.decode_image(complete_png(), admit=refuse)
    assert seen == [(FORGED_SIDE, FORGED_SIDE)]


def test_parse_bytes():
    assert parse_bytes("6G") == 6 << 30
    assert parse_bytes("512MiB") == 512 << 20
    assert parse_bytes("1.5k") == 1536
    assert parse_bytes("1073741824") == 1 << 30
    with pytest.raises(ValueError, match="not a size"):
        parse_bytes("lots")


def test_a_request_bigger_than_the_budget_is_refused_at_once():
    budget = MemoryBudget(1000)
    t0 = time.monotonic()
    with pytest.raises(ResourceExhausted, match="more than this instance's budget"):
        budget.reserve(1001, "image")
    assert time.monotonic() - t0 < 0.1 and budget.reserved == 0


def test_a_request_that_does_not_fit_now_waits_for_memory_to_come_back():
    budget = MemoryBudget(1000)
    held = budget.reserve(700, "first")
    threading.Timer(0.2, budget.release, args=(held,)).start()
    t0 = time.monotonic()
    assert budget.reserve(600, "second", deadline_seconds=5) == 600
    assert 0.15 < time.monotonic() - t0 < 2
    with pytest.raises(ResourceExhausted, match="retry shortly") as caught:
        budget.reserve(600, "third", deadline_seconds=0.2)
    assert caught.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert budget.reserved == 600


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_the_files_claim_what_the_test_says():
    for name, make in FORGED.items():
        data = make()
        assert Image.open(io.BytesIO(data)).size == (FORGED_SIDE, FORGED_SIDE), name
        assert len(data) < 200_000, name


def requests(image: common_pb2.Image) -> dict[str, object]:
    """One request per image capability, all reading `image` first."""
    tiny_mask = common_pb2.Mask(
        image=common_pb2.Image(inline=cv2.imencode(".png", np.zeros((8, 8), np.uint8))[1].tobytes())
    )
    box = common_pb2.Box(x=10, y=10, width=100, height=40)
    return {
        "/vipro.v1.EditingService/ConvertImage": editing_pb2.ConvertImageRequest(
            image=image, width=100
        ),
        "/vipro.v1.EditingService/EraseImage": editing_pb2.EraseImageRequest(
            image=image, region=editing_pb2.EraseRegion(boxes=[box])
        ),
        "/vipro.v1.SegmentationService/SegmentObject": segmentation_pb2.SegmentObjectRequest(
            image=image
        ),
        "/vipro.v1.SegmentationService/SegmentPerson": segmentation_pb2.SegmentPersonRequest(
            image=image
        ),
        "/vipro.v1.SegmentationService/DetectText": segmentation_pb2.DetectTextRequest(image=image),
        "/vipro.v1.SegmentationService/DetectFaces": segmentation_pb2.DetectFacesRequest(
            image=image
        ),
        "/vipro.v1.SegmentationService/Matte": segmentation_pb2.MatteRequest(
            image=image, trimap=tiny_mask
        ),
        "/vipro.v1.SegmentationService/DetectInsertionSlots": (
            segmentation_pb2.DetectInsertionSlotsRequest(image=image)
        ),
        "/vipro.v1.EnhancementService/SuperResolve": enhancement_pb2.SuperResolveRequest(
            image=image, scale=2
        ),
        "/vipro.v1.EnhancementService/Denoise": enhancement_pb2.DenoiseRequest(
            image=image, sigma=10
        ),
    }


@pytest.fixture(scope="module")
def budget_mesh(tmp_path_factory):
    """Triton, gateway and the image services, each with a 1 GiB memory budget."""
    mesh = Mesh(tmp_path_factory.mktemp("budget"), gateway_port=0, metrics_port=0)
    mesh.write_config()
    try:
        mesh.start_triton()
        mesh.start_gateway()
        for family in ("editing", "segmentation", "enhancement"):
            mesh.start_service(family, env={"VIPRO_MEMORY_BUDGET": str(BUDGET)})
        yield mesh
    finally:
        mesh.down()


@pytest.mark.slow
def test_images_claiming_100_megapixels_are_refused_with_bounded_memory(budget_mesh):
    channel = connect(budget_mesh.gateway_address, budget_mesh.api_key)
    assets = AssetClient(channel)
    services = [budget_mesh.processes[f].pid for f in ("editing", "segmentation", "enhancement")]
    models = triton.leftovers(budget_mesh.triton_shm_prefix)[0]
    outcomes: dict[tuple[str, str], str] = {}

    def send_all() -> None:
        for bomb, make in FORGED.items():
            image = common_pb2.Image(asset_id=assets.upload(make()).asset_id)
            for method, request in requests(image).items():
                call = channel.unary_unary(
                    method, request_serializer=type(request).SerializeToString
                )
                t0 = time.monotonic()
                try:
                    call(request, timeout=60)
                    outcomes[bomb, method] = "OK"
                except grpc.RpcError as err:
                    outcomes[bomb, method] = err.code().name
                    if err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                        assert decode_details(err), "QuotaFailure expected"
                assert time.monotonic() - t0 < 10, (bomb, method)

    growth = peak_growth(services + models, send_all)
    refused = {"INVALID_ARGUMENT", "RESOURCE_EXHAUSTED"}
    assert set(outcomes.values()) <= refused, outcomes
    # A complete 100 MP picture costs more than 1 GiB in every capability: refused from its
    # header. The short ones are refused before or while decoding.
    assert {v for (b, _), v in outcomes.items() if b == "png-complete-100mp"} == {
        "RESOURCE_EXHAUSTED"
    }
    assert max(growth[:3]) < BUDGET, growth
    assert max(growth[3:], default=0) < 64 << 20, growth  # Triton's model processes untouched
    small = enhancement_pb2.DenoiseRequest(
        image=common_pb2.Image(
            inline=cv2.imencode(".png", np.full((64, 64), 90, np.uint8))[1].tobytes()
        )
    )
    denoise = channel.unary_unary(
        "/vipro.v1.EnhancementService/Denoise",
        request_serializer=type(small).SerializeToString,
        response_deserializer=enhancement_pb2.DenoiseResponse.FromString,
    )
    assert denoise(small, timeout=60).image.inline  # Triton still serves
