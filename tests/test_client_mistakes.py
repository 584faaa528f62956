"""Client mistakes are INVALID_ARGUMENT with details, from services and from the gateway's own
services alike, after authentication, and never logged as server errors."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from common.client import connect
from common.errors import decode_details
from vipro.v1 import (
    assets_pb2,
    assets_pb2_grpc,
    common_pb2,
    editing_pb2,
    enhancement_pb2,
    segmentation_pb2,
)

CONVERT = "/vipro.v1.EditingService/ConvertImage"
LIST_ASSETS = "/vipro.v1.AssetService/ListAssets"
GARBAGE = b"\xff\xff\xff\xff\x0f"
# ConvertImageRequest.image (1) -> Image.asset_id (1) holding bytes that are not UTF-8.
BAD_UTF8 = b"\x0a\x04\x0a\x02\xff\xfe"
# ListAssetsRequest.page_token (2) holding bytes that are not UTF-8.
BAD_UTF8_TOKEN = b"\x12\x02\xff\xfe"


def raw_call(channel: grpc.Channel, method: str, payload: bytes) -> grpc.RpcError:
    call = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
    with pytest.raises(grpc.RpcError) as caught:
        call(payload, timeout=10)
    return caught.value


def violations(err: grpc.RpcError) -> dict[str, str]:
    return {
        v.field: v.description
        for detail in decode_details(err)
        for v in getattr(detail, "field_violations", [])
    }


def error_lines(mesh, name: str) -> int:
    log = Path(mesh.home) / "logs" / f"{name}.log"
    return sum('"level": "ERROR"' in line for line in log.read_text().splitlines())


@pytest.mark.parametrize("payload", [GARBAGE, BAD_UTF8], ids=["garbage", "bad-utf8"])
def test_unparseable_bytes_to_a_capability(mesh, channel, payload):
    before = error_lines(mesh, "editing"), error_lines(mesh, "gateway")
    err = raw_call(channel, CONVERT, payload)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, err.details()
    assert "(request bytes)" in violations(err)
    assert (error_lines(mesh, "editing"), error_lines(mesh, "gateway")) == before


@pytest.mark.parametrize("payload", [GARBAGE, BAD_UTF8_TOKEN], ids=["garbage", "bad-utf8"])
def test_unparseable_bytes_to_the_gateway_are_checked_after_authentication(mesh, channel, payload):
    before = error_lines(mesh, "gateway")
    anonymous = grpc.insecure_channel(mesh.gateway_address)
    assert raw_call(anonymous, LIST_ASSETS, payload).code() == grpc.StatusCode.UNAUTHENTICATED
    err = raw_call(channel, LIST_ASSETS, payload)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "(request bytes)" in violations(err)
    assert error_lines(mesh, "gateway") == before


@pytest.mark.parametrize("token", ["99999999999999999999", "²", "١٢", "-1"])
def test_a_page_token_not_given_out_is_invalid(channel, token):
    stub = assets_pb2_grpc.AssetServiceStub(channel)
    with pytest.raises(grpc.RpcError) as caught:
        stub.ListAssets(assets_pb2.ListAssetsRequest(page_token=token), timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "page_token" in violations(caught.value)


def test_an_enum_value_outside_the_contract(mesh):
    channel = connect(mesh.gateway_address, mesh.api_key)
    request = editing_pb2.ConvertImageRequest(
        image=common_pb2.Image(inline=b"x"), output=common_pb2.OutputOptions(format=7)
    )
    call = channel.unary_unary(
        CONVERT, request_serializer=type(request).SerializeToString, response_deserializer=None
    )
    with pytest.raises(grpc.RpcError) as caught:
        call(request, timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "output.format" in violations(caught.value)


@pytest.mark.parametrize("sigma", [float("nan"), float("inf")])
def test_a_non_finite_float(channel, sigma):
    request = enhancement_pb2.DenoiseRequest(image=common_pb2.Image(inline=b"x"), sigma=sigma)
    call = channel.unary_unary(
        "/vipro.v1.EnhancementService/Denoise",
        request_serializer=type(request).SerializeToString,
        response_deserializer=None,
    )
    with pytest.raises(grpc.RpcError) as caught:
        call(request, timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations(caught.value) == {"sigma": f"is {sigma}, must be a finite number"}


def test_a_video_stream_without_a_decoder(channel):
    """frames_at read codec_context.width of a stream ffmpeg has no decoder for (INTERNAL)."""
    from bench.fuzz import media_corpus

    request = segmentation_pb2.DetectInsertionSlotsRequest(
        video=common_pb2.Video(inline=media_corpus()["mp4-unknown-codec"])
    )
    call = channel.unary_unary(
        "/vipro.v1.SegmentationService/DetectInsertionSlots",
        request_serializer=type(request).SerializeToString,
    )
    with pytest.raises(grpc.RpcError) as caught:
        call(request, timeout=30)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "no decoder here reads" in caught.value.details()
