"""Gateway plumbing every client relies on: health, reflection, request ids in logs."""

from __future__ import annotations

import json
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from tests.helpers import two_colour_png
from vipro.v1 import common_pb2, editing_pb2, editing_pb2_grpc


def test_health_and_reflection_need_no_key(mesh):
    channel = grpc.insecure_channel(mesh.gateway_address)
    health = health_pb2_grpc.HealthStub(channel)
    reply = health.Check(health_pb2.HealthCheckRequest(service="vipro.v1.JobService"), timeout=5)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    services = {
        s.name
        for answer in stub.ServerReflectionInfo(iter([request]), timeout=5)
        for s in answer.list_services_response.service
    }
    assert {
        "vipro.v1.AssetService",
        "vipro.v1.JobService",
        "vipro.v1.ProductionService",
    } <= services


def test_request_id_travels_to_the_service_log_and_back(mesh, channel):
    rid = f"trace-{time.time_ns()}"
    stub = editing_pb2_grpc.EditingServiceStub(channel)
    request = editing_pb2.ConvertImageRequest(
        image=common_pb2.Image(inline=two_colour_png(8, 8)), width=4
    )
    reply, call = stub.ConvertImage.with_call(
        request, timeout=10, metadata=(("x-request-id", rid),)
    )
    assert reply.metadata.request_id == rid
    assert ("x-request-id", rid) in tuple(call.trailing_metadata())
    # A failed call is logged (at INFO) by the gateway and by the service, with the same id.
    failing = f"{rid}-bad"
    with pytest.raises(grpc.RpcError) as info:
        stub.ConvertImage(editing_pb2.ConvertImageRequest(), metadata=(("x-request-id", failing),))
    assert ("x-request-id", failing) in tuple(info.value.trailing_metadata())
    for process in ("gateway", "editing"):
        entries = log_entries(mesh.processes[process].log, failing)
        assert entries, f"no {process} log line carries the request id"
        assert entries[0]["tenant"] == "local"
        assert entries[0]["grpc_code"] == "INVALID_ARGUMENT"


def log_entries(path: str, request_id: str, timeout: float = 5.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        with open(path) as lines:
            found = [json.loads(x) for x in lines if x.startswith("{") and request_id in x]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)
