"""API-key authentication and per-tenant rate limits, through the real gateway."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2

from common.client import connect
from common.errors import decode_details
from tests.conftest import LIMITED_KEY
from vipro.v1 import gateway_pb2, gateway_pb2_grpc


def catalog(address: str, key: str = ""):
    stub = gateway_pb2_grpc.GatewayServiceStub(connect(address, key))
    return stub.ListCapabilities(gateway_pb2.ListCapabilitiesRequest(), timeout=5)


def test_missing_key_is_unauthenticated(mesh):
    with pytest.raises(grpc.RpcError) as info:
        catalog(mesh.gateway_address)
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "x-api-key" in info.value.details()


def test_wrong_key_is_unauthenticated(mesh):
    with pytest.raises(grpc.RpcError) as info:
        catalog(mesh.gateway_address, "not-a-key")
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_right_key_is_accepted(mesh):
    names = [c.name for c in catalog(mesh.gateway_address, mesh.api_key).capabilities]
    assert "editing.ConvertImage" in names


def test_internal_methods_refuse_tenant_keys(mesh):
    from vipro.v1 import registry_pb2, registry_pb2_grpc

    stub = registry_pb2_grpc.RegistryServiceStub(connect(mesh.gateway_address, mesh.api_key))
    with pytest.raises(grpc.RpcError) as info:
        stub.ListInstances(registry_pb2.ListInstancesRequest(), timeout=5)
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_forged_tenant_header_is_ignored(mesh, channel):
    from common.client import AssetClient

    mine = AssetClient(channel).upload(b"tenant header forging probe")
    forged = AssetClient(
        connect(mesh.gateway_address, "other-tenant-key", headers=(("x-vipro-tenant", "local"),))
    )
    with pytest.raises(grpc.RpcError) as info:
        forged.info(mine.asset_id)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_rate_limit_answers_resource_exhausted_with_retry_info(mesh):
    codes = []
    details = []
    for _ in range(6):
        try:
            catalog(mesh.gateway_address, LIMITED_KEY)
            codes.append(grpc.StatusCode.OK)
        except grpc.RpcError as err:
            codes.append(err.code())
            details = decode_details(err)
    assert codes[:2] == [grpc.StatusCode.OK, grpc.StatusCode.OK]  # burst of 2
    assert grpc.StatusCode.RESOURCE_EXHAUSTED in codes
    retry = [d for d in details if isinstance(d, error_details_pb2.RetryInfo)]
    quota = [d for d in details if isinstance(d, error_details_pb2.QuotaFailure)]
    assert retry and 0 < retry[0].retry_delay.ToTimedelta().total_seconds() <= 1.0
    assert quota and quota[0].violations[0].subject == "tenant:limited"
