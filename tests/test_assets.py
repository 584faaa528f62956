"""Assets: chunked streaming, content addressing, limits and tenant isolation."""

from __future__ import annotations

import hashlib
import os

import grpc
import pytest

from common.client import AssetClient, connect, sha256_id
from tests.conftest import OTHER_KEY
from vipro.v1 import assets_pb2, assets_pb2_grpc, common_pb2, editing_pb2, editing_pb2_grpc


def test_50_mb_round_trip_is_byte_identical(assets):
    data = os.urandom(50 * 1024 * 1024)
    info = assets.upload(data, media_type="video/mp4", filename="big.mp4")
    assert info.size_bytes == len(data)
    assert info.asset_id == "sha256:" + hashlib.sha256(data).hexdigest()
    back = assets.download(info.asset_id)
    assert back == data


def test_same_bytes_are_stored_once(assets):
    data = b"content addressed" * 1000
    first = assets.upload(data)
    again = assets.upload(data)
    assert first.asset_id == again.asset_id == sha256_id(data)


def test_ranges(assets, channel):
    data = bytes(range(256)) * 8192
    info = assets.upload(data)
    stub = assets_pb2_grpc.AssetServiceStub(channel)
    parts = stub.Download(assets_pb2.DownloadRequest(asset_id=info.asset_id, offset=1000, length=5))
    chunks = [p.chunk for p in parts if p.WhichOneof("part") == "chunk"]
    assert b"".join(chunks) == data[1000:1005]


def test_other_tenants_cannot_see_an_asset(mesh, assets):
    info = assets.upload(b"secret of tenant local")
    other = AssetClient(connect(mesh.gateway_address, OTHER_KEY))
    with pytest.raises(grpc.RpcError) as info_err:
        other.download(info.asset_id)
    assert info_err.value.code() == grpc.StatusCode.NOT_FOUND
    # The same bytes uploaded by the other tenant are its own asset; deleting it leaves ours.
    theirs = other.upload(b"secret of tenant local")
    assert theirs.asset_id == info.asset_id
    stub = assets_pb2_grpc.AssetServiceStub(connect(mesh.gateway_address, OTHER_KEY))
    assert stub.DeleteAsset(assets_pb2.DeleteAssetRequest(asset_id=theirs.asset_id)).deleted
    assert assets.download(info.asset_id) == b"secret of tenant local"


def test_mismatched_checksum_is_data_loss(channel):
    stub = assets_pb2_grpc.AssetServiceStub(channel)
    header = assets_pb2.AssetHeader(asset_id=sha256_id(b"something else"))
    requests = iter(
        [assets_pb2.UploadRequest(header=header), assets_pb2.UploadRequest(chunk=b"payload")]
    )
    with pytest.raises(grpc.RpcError) as info:
        stub.Upload(requests, timeout=10)
    assert info.value.code() == grpc.StatusCode.DATA_LOSS


def test_upload_without_header_is_invalid(channel):
    stub = assets_pb2_grpc.AssetServiceStub(channel)
    with pytest.raises(grpc.RpcError) as info:
        stub.Upload(iter([assets_pb2.UploadRequest(chunk=b"x")]), timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_oversized_upload_is_refused_before_storing(channel):
    stub = assets_pb2_grpc.AssetServiceStub(channel)
    header = assets_pb2.AssetHeader(size_bytes=1 << 40)
    with pytest.raises(grpc.RpcError) as info:
        stub.Upload(iter([assets_pb2.UploadRequest(header=header)]), timeout=10)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_malformed_asset_id_is_invalid(assets):
    with pytest.raises(grpc.RpcError) as info:
        assets.info("md5:abc")
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_capability_reads_and_writes_assets(channel, assets):
    import cv2
    import numpy as np

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (1500, 2000, 3), dtype=np.uint8)  # ~9 MB as PNG
    _ok, png = cv2.imencode(".png", image)
    info = assets.upload(png.tobytes(), media_type="image/png")
    stub = editing_pb2_grpc.EditingServiceStub(channel)
    reply = stub.ConvertImage(
        editing_pb2.ConvertImageRequest(
            image=common_pb2.Image(asset_id=info.asset_id),
            output=common_pb2.OutputOptions(
                format=common_pb2.IMAGE_FORMAT_PNG, delivery=common_pb2.DELIVERY_ASSET
            ),
        ),
        timeout=60,
    )
    assert reply.image.WhichOneof("source") == "asset_id"
    back = cv2.imdecode(np.frombuffer(assets.download(reply.image.asset_id), np.uint8), 1)
    assert np.array_equal(back, image)


def test_missing_asset_reference_is_invalid_argument(channel):
    stub = editing_pb2_grpc.EditingServiceStub(channel)
    request = editing_pb2.ConvertImageRequest(image=common_pb2.Image(asset_id=sha256_id(b"nope")))
    with pytest.raises(grpc.RpcError) as info:
        stub.ConvertImage(request, timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not found" in info.value.details()


def test_concurrent_uploads_cannot_overshoot_the_tenant_quota(tmp_path):
    import asyncio

    from common.errors import ResourceExhausted
    from gateway.assets import AssetStore
    from gateway.config import AssetLimits

    store = AssetStore(tmp_path, AssetLimits(max_asset_bytes=100, max_tenant_bytes=100))

    async def upload(i: int):
        async def chunks():
            yield bytes([i]) * 80

        return await store.put("t", assets_pb2.AssetHeader(), chunks())

    async def all_uploads():
        return await asyncio.gather(*(upload(i) for i in range(5)), return_exceptions=True)

    results = asyncio.run(all_uploads())
    stored = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, ResourceExhausted)]
    assert len(stored) == 1 and len(refused) == 4
    assert store.used_bytes("t") == 80
