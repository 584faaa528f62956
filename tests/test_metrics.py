"""Every process serves Prometheus metrics that move with traffic."""

from __future__ import annotations

from tests.helpers import scrape, two_colour_png, value
from vipro.v1 import common_pb2, editing_pb2, editing_pb2_grpc


def test_counters_move_on_gateway_and_service(mesh, channel):
    editing = mesh.processes["editing"]
    before_gw, before_svc = scrape(mesh.metrics_port), scrape(editing.metrics_port)
    stub = editing_pb2_grpc.EditingServiceStub(channel)
    request = editing_pb2.ConvertImageRequest(
        image=common_pb2.Image(inline=two_colour_png(40, 30)), width=20
    )
    for _ in range(3):
        stub.ConvertImage(request, timeout=10)
    after_gw, after_svc = scrape(mesh.metrics_port), scrape(editing.metrics_port)
    labels = {"grpc_service": "vipro.v1.EditingService", "grpc_method": "ConvertImage"}
    for name in ("grpc_server_started_total", "grpc_server_handling_seconds_count"):
        assert value(after_gw, name, **labels) - value(before_gw, name, **labels) == 3
        assert value(after_svc, name, **labels) - value(before_svc, name, **labels) == 3
    ok = {**labels, "grpc_code": "OK"}
    assert (
        value(after_gw, "grpc_server_handled_total", **ok)
        - value(before_gw, "grpc_server_handled_total", **ok)
        == 3
    )
    cap = {"capability": "editing.ConvertImage", "tenant": "local", "grpc_code": "OK"}
    assert (
        value(after_gw, "vipro_capability_calls_total", **cap)
        - value(before_gw, "vipro_capability_calls_total", **cap)
        == 3
    )
    assert (
        value(after_svc, "vipro_capability_calls_total", **cap)
        - value(before_svc, "vipro_capability_calls_total", **cap)
        == 3
    )
    upstream = value(after_gw, "vipro_gateway_upstream_calls_total", grpc_method="ConvertImage")
    assert (
        upstream
        - value(before_gw, "vipro_gateway_upstream_calls_total", grpc_method="ConvertImage")
        == 3
    )
    assert value(after_gw, "vipro_tenant_calls_total", tenant="local") > value(
        before_gw, "vipro_tenant_calls_total", tenant="local"
    )


def test_errors_are_counted_with_their_code(mesh, channel):
    import grpc
    import pytest

    before = scrape(mesh.metrics_port)
    stub = editing_pb2_grpc.EditingServiceStub(channel)
    with pytest.raises(grpc.RpcError):
        stub.ConvertImage(editing_pb2.ConvertImageRequest(), timeout=10)
    after = scrape(mesh.metrics_port)
    bad = {"grpc_method": "ConvertImage", "grpc_code": "INVALID_ARGUMENT"}
    assert (
        value(after, "grpc_server_handled_total", **bad)
        - value(before, "grpc_server_handled_total", **bad)
        == 1
    )


def test_job_queue_depth_is_exported(mesh):
    assert any(n == "vipro_jobs" for n, _ in scrape(mesh.metrics_port))
