"""Gateway routing over real processes: balancing, failover, versions, deadlines, streaming,
providers added at run time, graceful drain."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter

import grpc
import pytest

from common.client import connect, internal_headers


def start_echo(mesh, echo_pythonpath, name, version="1.0.0", stage="ga", wait=True):
    env = {
        "PYTHONPATH": f"{echo_pythonpath}:{os.environ.get('PYTHONPATH', '')}",
        "ECHO_VERSION": version,
        "ECHO_STAGE": stage,
        "ECHO_NAME": name,
    }
    return mesh.start_service("echo", name=name, module="provider", env=env, wait=wait)


@pytest.fixture(scope="module")
def echo_pair(mesh, echo_pythonpath):
    """Two instances of echo 1.0.0 (ga) started after the gateway: a provider added at run time."""
    names = ["echo-a", "echo-b"]
    for name in names:
        start_echo(mesh, echo_pythonpath, name)
    yield names
    for name in names:
        mesh.stop(name)


@pytest.fixture(scope="module")
def echo_stub(channel, echo_modules, echo_pair):
    _, echo_pb2_grpc = echo_modules
    return echo_pb2_grpc.EchoServiceStub(channel)


def test_provider_added_at_run_time_is_called_through_the_gateway(echo_stub, echo_modules):
    echo_pb2, _ = echo_modules
    reply = echo_stub.Echo(echo_pb2.EchoRequest(payload=b"hello"), timeout=10)
    assert reply.payload == b"hello"
    assert reply.tenant == "local"  # the gateway told the provider who called


def test_calls_are_balanced_across_two_instances(echo_stub, echo_modules):
    echo_pb2, _ = echo_modules
    seen = Counter(
        echo_stub.Echo(echo_pb2.EchoRequest(payload=b"x"), timeout=10).instance_id
        for _ in range(40)
    )
    assert len(seen) == 2, seen
    assert min(seen.values()) >= 10, seen


def test_streaming_rpcs_are_forwarded(echo_stub, echo_modules):
    echo_pb2, _ = echo_modules
    payload = bytes(range(256)) * 1000
    parts = list(echo_stub.Chunks(echo_pb2.EchoRequest(payload=payload, count=7), timeout=10))
    assert len(parts) == 7
    assert b"".join(p.payload for p in parts) == payload
    summed = echo_stub.Sum(iter([echo_pb2.EchoRequest(payload=b"ab")] * 5), timeout=10)
    assert summed.payload == b"ab" * 5
    answers = echo_stub.Chat(iter(echo_pb2.EchoRequest(payload=bytes([i])) for i in range(9)))
    assert [a.payload for a in answers] == [bytes([i]) for i in range(9)]


def test_caller_deadline_propagates_to_the_instance(echo_stub, echo_modules):
    echo_pb2, _ = echo_modules
    t0 = time.monotonic()
    with pytest.raises(grpc.RpcError) as info:
        echo_stub.Echo(echo_pb2.EchoRequest(delay_ms=5000), timeout=0.5)
    assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - t0 < 3.0


def test_version_pinning_and_stages(mesh, echo_pythonpath, echo_stub, echo_modules):
    echo_pb2, _ = echo_modules
    start_echo(mesh, echo_pythonpath, "echo-v2", version="2.1.0", stage="experimental")
    try:
        request = echo_pb2.EchoRequest(payload=b"v")
        default = {echo_stub.Echo(request, timeout=10).version for _ in range(10)}
        assert default == {"1.0.0"}, "experimental versions must not get default traffic"
        pinned = echo_stub.Echo(request, timeout=10, metadata=(("vipro-version", "2"),))
        assert pinned.version == "2.1.0"
        exact = echo_stub.Echo(request, timeout=10, metadata=(("vipro-version", "1.0.0"),))
        assert exact.version == "1.0.0"
        staged = echo_stub.Echo(request, timeout=10, metadata=(("vipro-stage", "experimental"),))
        assert staged.version == "2.1.0"
        with pytest.raises(grpc.RpcError) as info:
            echo_stub.Echo(request, timeout=10, metadata=(("vipro-version", "3"),))
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
        assert "2.1.0" in info.value.details() and "1.0.0" in info.value.details()
    finally:
        mesh.stop("echo-v2")


def test_killing_an_instance_under_load_fails_no_idempotent_call(
    mesh, echo_pythonpath, echo_modules, echo_pair
):
    echo_pb2, echo_pb2_grpc = echo_modules
    start_echo(mesh, echo_pythonpath, "echo-doomed")
    stub = echo_pb2_grpc.EchoServiceStub(connect(mesh.gateway_address, mesh.api_key))
    failures: list[grpc.RpcError] = []
    served: Counter = Counter()
    stop = threading.Event()

    def load():
        while not stop.is_set():
            try:
                reply = stub.Echo(echo_pb2.EchoRequest(payload=b"p", delay_ms=5), timeout=10)
                served[reply.instance_id.rsplit("-", 3)[0]] += 1
            except grpc.RpcError as err:
                failures.append(err)

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    mesh.stop("echo-doomed", sig=signal.SIGKILL)
    time.sleep(2.0)
    stop.set()
    for t in threads:
        t.join()
    assert not failures, [f.code() for f in failures]
    assert served["echo-doomed"] > 0, "the killed instance should have served before dying"
    assert sum(served.values()) > 50


def test_sigterm_drains_in_flight_calls(mesh, echo_pythonpath, echo_modules):
    echo_pb2, echo_pb2_grpc = echo_modules
    info = start_echo(mesh, echo_pythonpath, "echo-drain")
    mesh_headers = internal_headers(mesh.internal_token, "local")
    direct = echo_pb2_grpc.EchoServiceStub(connect(f"127.0.0.1:{info.port}", headers=mesh_headers))
    future = direct.Echo.future(echo_pb2.EchoRequest(payload=b"slow", delay_ms=1500), timeout=10)
    time.sleep(0.3)
    os.kill(info.pid, signal.SIGTERM)
    assert future.result().payload == b"slow"  # finished although SIGTERM came mid-call
    mesh.stop("echo-drain")


def test_unknown_capability_is_unimplemented_with_its_name(channel):
    method = channel.unary_unary("/vipro.v1.NowhereService/Missing")
    with pytest.raises(grpc.RpcError) as info:
        method(b"", timeout=5)
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "nowhere.Missing" in info.value.details()


def test_services_refuse_calls_without_the_mesh_token(
    mesh, echo_pythonpath, echo_modules, echo_pair
):
    echo_pb2, echo_pb2_grpc = echo_modules
    port = mesh.processes["echo-a"].port
    forged = connect(f"127.0.0.1:{port}", headers=(("x-vipro-tenant", "someone-else"),))
    with pytest.raises(grpc.RpcError) as info:
        echo_pb2_grpc.EchoServiceStub(forged).Echo(echo_pb2.EchoRequest(payload=b"x"), timeout=5)
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    # Health stays open for load balancers and orchestrators.
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    health = health_pb2_grpc.HealthStub(grpc.insecure_channel(f"127.0.0.1:{port}"))
    assert health.Check(health_pb2.HealthCheckRequest(), timeout=5).status == 1
