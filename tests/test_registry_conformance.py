"""One `Registry` conformance suite, run against every backend.

* ``store``: `gateway.registry_store.RegistryStore` in-process (SQLite under tmp_path);
* ``embedded``: `EmbeddedRegistryClient` over gRPC to a real `gateway.server.Gateway`;
* ``consul``: `ConsulRegistry` against `tests.fake_consul.FakeConsul`, an emulation of Consul's
  HTTP API written from its documentation (no Consul binary is available here), which runs real
  gRPC health checks against the instances.

Instances are backed by real gRPC servers with the standard health service on loopback, so
"stops answering" means the server is really gone. The Consul-only tests at the end cover what
only that backend has: the watch (`start_watch`/`version`), agent outages, the agent reaping a
dead instance, and the Meta encoding's limits.
"""

from __future__ import annotations

import asyncio
import random
import string
import threading
import time
from collections.abc import Callable
from concurrent import futures

import grpc
import pytest
import requests
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from common.errors import NotFound
from common.registry import connect
from common.registry.consul import ConsulRegistry, consul_service_name, encode_meta
from common.registry.embedded import EmbeddedRegistryClient
from gateway.config import GatewayConfig
from gateway.registry_store import RegistryStore
from gateway.server import Gateway
from tests.fake_consul import FakeConsul
from vipro.v1 import registry_pb2

TOKEN = "conformance-internal-token"
EDITING = "vipro.v1.EditingService"
SEGMENTATION = "vipro.v1.SegmentationService"
GENERATION = "vipro.v1.ImageGenerationService"


# Helpers ---------------------------------------------------------------------------------
def eventually(probe: Callable[[], object], timeout: float = 5.0, what: str = "condition"):
    """Poll `probe` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.05)
    pytest.fail(f"{what} not reached within {timeout}s (last: {last!r})")


class HealthServer:
    """A real gRPC server on loopback answering grpc.health.v1 with SERVING."""

    def __init__(self):
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        self.health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        port = self.server.add_insecure_port("127.0.0.1:0")
        self.address = f"127.0.0.1:{port}"
        self.health.set("", health_pb2.HealthCheckResponse.SERVING)
        self.server.start()

    def stop(self) -> None:
        self.server.stop(None).wait()


def declaration(name: str, method: str, **fields) -> registry_pb2.CapabilityDeclaration:
    return registry_pb2.CapabilityDeclaration(name=name, method=method, **fields)


def make_instance(
    instance_id: str, address: str, services=(EDITING,), version: str = "1.2.3"
) -> registry_pb2.Instance:
    """An instance with every field set, to check they all round-trip."""
    return registry_pb2.Instance(
        instance_id=instance_id,
        services=list(services),
        address=address,
        metrics_address="127.0.0.1:9464",
        capabilities=[
            declaration(
                "editing.ConvertImage",
                "/vipro.v1.EditingService/ConvertImage",
                version=version,
                stage=registry_pb2.STAGE_GA,
                idempotent=True,
                description='Convert | an image: "ünïcode", commas, a=b',
                input_type="vipro.v1.ConvertImageRequest",
                output_type="vipro.v1.ConvertImageResponse",
            ),
            declaration(
                "editing.StreamFrames",
                "/vipro.v1.EditingService/StreamFrames",
                version="0.1.0-beta.1",
                stage=registry_pb2.STAGE_EXPERIMENTAL,
                client_streaming=True,
                server_streaming=True,
                input_type="vipro.v1.Frame",
                output_type="vipro.v1.Frame",
            ),
            declaration(
                "editing.Legacy",
                "/vipro.v1.EditingService/Legacy",
                version="0.9.0",
                stage=registry_pb2.STAGE_DEPRECATED,
            ),
        ],
        meta={"zone": "eu-west-1a", "pid": "4242", "note": "a|b;c=d"},
    )


def stripped(inst: registry_pb2.Instance) -> registry_pb2.Instance:
    """`inst` without the registry's output-only fields."""
    out = registry_pb2.Instance()
    out.CopyFrom(inst)
    out.ClearField("healthy")
    out.ClearField("last_heartbeat_time")
    return out


def find(registry, instance_id: str, service: str = "") -> registry_pb2.Instance | None:
    return next((i for i in registry.instances(service) if i.instance_id == instance_id), None)


def healthy(registry, instance_id: str) -> registry_pb2.Instance | None:
    inst = find(registry, instance_id)
    return inst if inst is not None and inst.healthy else None


def unhealthy(registry, instance_id: str) -> bool:
    inst = find(registry, instance_id)
    return inst is not None and not inst.healthy


class GatewayThread:
    """A real gateway (embedded registry) serving from its own asyncio loop in a thread."""

    def __init__(self, tmp_path):
        config = GatewayConfig(
            host="127.0.0.1",
            port=0,
            metrics_port=-1,
            state_dir=tmp_path / "gateway",
            internal_token=TOKEN,
        )
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

        async def boot() -> Gateway:
            gateway = Gateway(config)
            await gateway.start()
            return gateway

        self.gateway = asyncio.run_coroutine_threadsafe(boot(), self.loop).result(30)
        self.address = f"127.0.0.1:{self.gateway.port}"

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.gateway.stop(grace=0), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


# Fixtures --------------------------------------------------------------------------------
@pytest.fixture
def servers():
    """Factory of live health servers, all stopped at teardown."""
    made: list[HealthServer] = []

    def make() -> HealthServer:
        made.append(HealthServer())
        return made[-1]

    yield make
    for server in made:
        server.stop()


@pytest.fixture
def fake_consul():
    fake = FakeConsul(reap_interval=0.2, deregister_min=0.0).start()
    yield fake
    fake.stop()


def consul_registry(fake: FakeConsul, **kwargs) -> ConsulRegistry:
    options = {"wait_seconds": 30.0, "retry_first_seconds": 0.1, "retry_max_seconds": 0.5}
    options.update(kwargs)
    return ConsulRegistry(fake.address, **options)


@pytest.fixture(params=["store", "embedded", "consul"])
def registry(request, tmp_path):
    """A `Registry` of each backend."""
    if request.param == "store":
        store = RegistryStore(tmp_path / "registry.sqlite")
        yield store
        store.close()
    elif request.param == "embedded":
        gateway = GatewayThread(tmp_path)
        client = EmbeddedRegistryClient(gateway.address, TOKEN)
        yield client
        client.close()
        gateway.stop()
    else:
        fake = FakeConsul(reap_interval=0.2, deregister_min=0.0).start()
        consul = consul_registry(fake)
        yield consul
        consul.close()
        fake.stop()


# The conformance suite -------------------------------------------------------------------
def test_register_then_list_round_trips_every_field(registry, servers):
    inst = make_instance("rt-1", servers().address)
    assert registry.register(inst, 3) == 3
    got = eventually(lambda: healthy(registry, "rt-1"), what="rt-1 healthy")
    assert stripped(got) == inst
    assert list(got.capabilities) == list(inst.capabilities)
    assert [i.instance_id for i in registry.instances()] == ["rt-1"]


def test_list_filters_by_grpc_service(registry, servers):
    registry.register(make_instance("a", servers().address, [EDITING]), 5)
    registry.register(make_instance("b", servers().address, [SEGMENTATION]), 5)
    registry.register(make_instance("c", servers().address, [GENERATION, EDITING]), 5)

    def ids(service: str = "") -> list[str]:
        return [i.instance_id for i in registry.instances(service)]

    assert ids() == ["a", "b", "c"]
    assert ids(EDITING) == ["a", "c"]  # c's second service counts too
    assert ids(SEGMENTATION) == ["b"]
    assert ids(GENERATION) == ["c"]
    assert ids("vipro.v1.NoSuchService") == []


def test_register_again_replaces(registry, servers):
    registry.register(make_instance("r", servers().address, [EDITING], "1.0.0"), 5)
    eventually(lambda: healthy(registry, "r"), what="first registration healthy")
    replacement = make_instance("r", servers().address, [SEGMENTATION], "2.0.0")
    registry.register(replacement, 5)
    got = eventually(
        lambda: [i for i in registry.instances() if i.healthy and i.address == replacement.address],
        what="replacement healthy",
    )
    assert [stripped(i) for i in got] == [replacement]
    assert [i.instance_id for i in registry.instances()] == ["r"]
    assert registry.instances(EDITING) == []


def test_deregister_removes_then_reports_absence(registry, servers):
    registry.register(make_instance("d", servers().address), 5)
    registry.register(make_instance("keep", servers().address), 5)
    assert registry.deregister("d") is True
    assert [i.instance_id for i in registry.instances()] == ["keep"]
    assert registry.deregister("d") is False
    assert registry.deregister("never-registered") is False


def test_heartbeat_known_passes_unknown_raises_not_found(registry, servers):
    registry.register(make_instance("hb", servers().address), 5)
    registry.heartbeat("hb")
    with pytest.raises(NotFound):
        registry.heartbeat("no-such-instance")
    registry.deregister("hb")
    with pytest.raises(NotFound):
        registry.heartbeat("hb")


@pytest.mark.slow
def test_live_instance_stays_healthy_past_its_ttl(registry, servers):
    registry.register(make_instance("live", servers().address), 1)
    eventually(lambda: healthy(registry, "live"), what="live healthy")
    until = time.monotonic() + 1.6
    while time.monotonic() < until:
        registry.heartbeat("live")
        assert healthy(registry, "live"), "a heartbeating, answering instance went unhealthy"
        time.sleep(0.25)


def test_instance_that_stops_answering_turns_unhealthy(registry, servers):
    """Embedded: the 1 s lease lapses without heartbeats. Consul: its gRPC check fails."""
    server = servers()
    registry.register(make_instance("dies", server.address), 1)
    eventually(lambda: healthy(registry, "dies"), what="dies healthy")
    server.stop()
    started = time.monotonic()
    eventually(lambda: unhealthy(registry, "dies"), timeout=4.0, what="dies unhealthy")
    assert time.monotonic() - started < 4.0


# Consul only -----------------------------------------------------------------------------
def test_connect_opens_consul_registry(fake_consul):
    registry = connect(f"consul://{fake_consul.address}")
    try:
        assert isinstance(registry, ConsulRegistry)
        assert registry.instances() == []
    finally:
        registry.close()


def test_consul_registration_follows_the_documented_mapping(fake_consul, servers):
    server = servers()
    registry = consul_registry(fake_consul, deregister_after_seconds=90)
    try:
        registry.register(make_instance("map-1", server.address, [GENERATION, EDITING]), 6)
        base = f"http://{fake_consul.address}/v1"
        service = requests.get(f"{base}/agent/service/map-1", timeout=5).json()
        assert service["Service"] == consul_service_name(GENERATION) == "vipro-image-generation"
        assert (service["Address"], service["Port"]) == (
            "127.0.0.1",
            int(server.address.rsplit(":", 1)[1]),
        )
        assert service["Tags"] == ["vipro", "deprecated", "experimental", "ga"]
        assert service["Meta"]["vipro-services"] == f"{GENERATION},{EDITING}"
        assert all(len(v.encode()) <= 512 for v in service["Meta"].values())
        check = requests.get(f"{base}/agent/checks", timeout=5).json()["service:map-1"]
        assert check["Type"] == "grpc"
        assert check["Definition"]["GRPC"] == server.address
        assert check["Interval"] == "2s"
        assert check["Definition"]["DeregisterCriticalServiceAfter"] == "1m30s"
        catalog = requests.get(f"{base}/catalog/services", timeout=5).json()
        assert catalog["vipro-image-generation"] == ["deprecated", "experimental", "ga", "vipro"]
    finally:
        registry.close()


@pytest.mark.slow
def test_consul_watch_follows_changes_with_blocking_queries(fake_consul, servers):
    registry = consul_registry(fake_consul)
    other = consul_registry(fake_consul)  # a provider's view: writes only
    try:
        registry.start_watch()
        seen = registry.version()
        server = servers()
        other.register(make_instance("w-1", server.address), 3)
        eventually(lambda: healthy(registry, "w-1"), what="watch sees w-1 healthy")
        assert registry.version() > seen
        seen = registry.version()

        # Idle: blocking queries wait instead of polling.
        before = sum(fake_consul.requests.values())
        time.sleep(1.0)
        assert registry.version() == seen
        assert sum(fake_consul.requests.values()) - before <= 2

        server.stop()
        eventually(lambda: unhealthy(registry, "w-1"), what="watch sees w-1 critical")
        assert registry.version() > seen
        seen = registry.version()

        other.register(make_instance("w-2", servers().address, [SEGMENTATION]), 3)
        eventually(lambda: healthy(registry, "w-2"), what="watch sees w-2 (a new service name)")
        assert [i.instance_id for i in registry.instances(SEGMENTATION)] == ["w-2"]
        other.deregister("w-1")
        other.deregister("w-2")
        eventually(lambda: registry.instances() == [], what="watch sees both gone")
        assert registry.version() > seen
    finally:
        other.close()
        registry.close()


@pytest.mark.slow
def test_consul_watch_keeps_snapshot_while_agent_is_down(fake_consul, servers):
    registry = consul_registry(fake_consul)
    try:
        registry.register(make_instance("o-1", servers().address), 3)
        registry.start_watch()
        eventually(lambda: healthy(registry, "o-1"), what="o-1 healthy")
        fake_consul.stop()
        time.sleep(0.6)  # a few failed watch attempts
        assert healthy(registry, "o-1"), "the last snapshot must survive an agent outage"
        fake_consul.start()
        registry.register(make_instance("o-2", servers().address), 3)
        eventually(lambda: healthy(registry, "o-2"), timeout=6.0, what="watch recovers")
        assert [i.instance_id for i in registry.instances()] == ["o-1", "o-2"]
    finally:
        registry.close()


@pytest.mark.slow
def test_consul_reaps_dead_instance_and_heartbeat_says_register_again(fake_consul, servers):
    server = servers()
    registry = consul_registry(fake_consul, deregister_after_seconds=1)
    try:
        registry.register(make_instance("reaped", server.address), 1)
        eventually(lambda: healthy(registry, "reaped"), what="reaped healthy")
        server.stop()

        def lost() -> bool:
            try:
                registry.heartbeat("reaped")
            except NotFound:
                return True
            return False

        eventually(lost, timeout=6.0, what="agent deregisters the critical instance")
        assert find(registry, "reaped") is None
    finally:
        registry.close()


def test_consul_meta_encoding_fits_limits_and_refuses_too_much(fake_consul, servers):
    rng = random.Random(7)
    big = make_instance("big", servers().address)
    for n in range(150):
        big.capabilities.add(
            name=f"editing.Rpc{n}",
            method=f"/vipro.v1.EditingService/Rpc{n}",
            version=f"1.{n}.0",
            stage=registry_pb2.STAGE_GA,
            description=f"Capability number {n} of a large provider, described at some length.",
        )
    meta = encode_meta(big)
    assert len(meta) <= 64
    registry = consul_registry(fake_consul)
    try:
        registry.register(big, 3)  # the fake enforces Consul's Meta validation
        got = find(registry, "big")
        assert got is not None and stripped(got) == big

        noisy = make_instance("noisy", servers().address)
        for n in range(200):
            noisy.capabilities.add(
                name=f"editing.Rpc{n}",
                method=f"/vipro.v1.EditingService/Rpc{n}",
                version="1.0.0",
                description="".join(rng.choices(string.ascii_letters, k=400)),
            )
        with pytest.raises(ValueError, match="Meta"):
            registry.register(noisy, 3)
    finally:
        registry.close()
