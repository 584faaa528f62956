"""`Registry` backed by a Consul agent's HTTP API (py-consul).

How a ViPro instance maps onto Consul
-------------------------------------
* One Consul service instance per ViPro instance, registered with the local agent
  (``PUT /v1/agent/service/register``): ``ID`` = ``instance_id``; ``Name`` = a DNS-label name
  derived from the instance's first gRPC service (``vipro.v1.EditingService`` ->
  ``vipro-editing``, see `consul_service_name`); ``Address``/``Port`` from ``instance.address``;
  ``Tags`` = ``["vipro", <stage names served>]``. The ``vipro`` tag is how the registry finds its
  services in the catalog.
* Health: one gRPC check (the standard ``grpc.health.v1.Health/Check`` of the whole server)
  run by the agent every ``max(1, ttl/3)`` seconds with the same timeout, and
  ``DeregisterCriticalServiceAfter`` (default 60 s, Consul's minimum) so an instance that died
  without deregistering is eventually removed. ``healthy`` is true when every check Consul reports
  for the instance (including node checks such as ``serfHealth``) is ``passing``. A freshly
  registered instance is ``critical`` until the agent's first probe, which Consul runs at a random
  moment within the first interval.
* Heartbeats: Consul probes the instance itself, so `ConsulRegistry.heartbeat` only checks that
  the agent still knows the service (``GET /v1/agent/service/:id``) and raises `NotFound` when it
  does not (deregistered after being critical too long, or the agent lost its state), which makes
  the provider register again.

Meta encoding (round-trips exactly)
-----------------------------------
Consul service ``Meta`` allows at most 64 keys matching ``[A-Za-z0-9_-]+`` of at most 128
characters, values of at most 512 bytes, and reserves the ``consul-`` prefix. Everything the
``Instance`` message carries besides id and address (``services``, ``metrics_address``,
``capabilities`` with all their fields, and ``meta``) is serialised as one protobuf
``vipro.v1.Instance`` (deterministic), zlib-compressed, base64-encoded and cut into 512-character
chunks stored under ``vipro-00``, ``vipro-01``, ...; ``vipro-chunks`` holds the chunk count and
``vipro-format`` the encoding version (``1``). ``vipro-services`` repeats the gRPC services,
comma-separated, for people reading the Consul UI (omitted if longer than 512 characters; the
decoder ignores it). Up to 61 chunks fit, about 23 KiB of compressed declarations; `register`
raises `ValueError` beyond that.

Watching
--------
`ConsulRegistry.start_watch` starts daemon threads doing Consul blocking queries: one on
``/v1/catalog/services`` to learn which ``vipro``-tagged service names exist, and one per name on
``/v1/health/service/:name``. They keep a snapshot that `instances` answers from, and `version`
increments whenever the snapshot changes. Following Consul's blocking-query guidance, an index
that goes backwards resets to 0, an index below 1 is treated as 1, and each loop is rate-limited
by a token bucket (burst 2). When the agent is unreachable the last snapshot is kept and the
watch retries with jittered exponential back-off (`common.retry.Backoff`), logging each failure.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
import zlib
from collections.abc import Iterable

import consul

from common.errors import NotFound
from common.retry import Backoff, TokenBucket
from vipro.v1 import registry_pb2

log = logging.getLogger(__name__)

VIPRO_TAG = "vipro"
META_FORMAT_KEY = "vipro-format"
META_FORMAT = "1"
META_CHUNKS_KEY = "vipro-chunks"
META_SERVICES_KEY = "vipro-services"
META_VALUE_MAX = 512
META_MAX_KEYS = 64
MAX_CHUNKS = META_MAX_KEYS - 3
DEFAULT_TTL = 10
STAGE_TAGS = {
    registry_pb2.STAGE_UNSPECIFIED: "ga",
    registry_pb2.STAGE_EXPERIMENTAL: "experimental",
    registry_pb2.STAGE_GA: "ga",
    registry_pb2.STAGE_DEPRECATED: "deprecated",
}


def consul_service_name(grpc_service: str) -> str:
    """Consul service name (a DNS label) for a gRPC service.

    ``vipro.v1.EditingService`` -> ``vipro-editing``; ``pkg.v1.ImageGenerationService`` ->
    ``vipro-image-generation``.
    """
    last = grpc_service.rsplit(".", 1)[-1]
    if last.endswith("Service") and len(last) > len("Service"):
        last = last[: -len("Service")]
    slug = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", last).lower()
    slug = re.sub(r"[^a-z0-9-]+", "-", slug).strip("-") or "service"
    return f"vipro-{slug}"[:63].rstrip("-")


def _chunk_key(i: int) -> str:
    return f"vipro-{i:02d}"


def encode_meta(instance: registry_pb2.Instance) -> dict[str, str]:
    """Consul service Meta carrying everything of `instance` but its id and address.

    Raises:
        ValueError: the encoded declarations exceed what 64 Meta keys can hold.
    """
    payload = registry_pb2.Instance(
        services=instance.services,
        metrics_address=instance.metrics_address,
        capabilities=instance.capabilities,
        meta=instance.meta,
    )
    blob = base64.b64encode(zlib.compress(payload.SerializeToString(deterministic=True), 9)).decode(
        "ascii"
    )
    chunks = [blob[i : i + META_VALUE_MAX] for i in range(0, len(blob), META_VALUE_MAX)] or [""]
    if len(chunks) > MAX_CHUNKS:
        raise ValueError(
            f"instance {instance.instance_id}: declarations need {len(chunks)} Consul Meta values "
            f"of {META_VALUE_MAX} characters; at most {MAX_CHUNKS} fit"
        )
    meta = {META_FORMAT_KEY: META_FORMAT, META_CHUNKS_KEY: str(len(chunks))}
    meta.update({_chunk_key(i): chunk for i, chunk in enumerate(chunks)})
    services = ",".join(instance.services)
    if len(services.encode()) <= META_VALUE_MAX:
        meta[META_SERVICES_KEY] = services
    return meta


def decode_entry(entry: dict) -> registry_pb2.Instance | None:
    """Instance from one ``/v1/health/service/:name`` entry; None when it is not ViPro's."""
    service = entry.get("Service") or {}
    meta = service.get("Meta") or {}
    if meta.get(META_FORMAT_KEY) != META_FORMAT:
        return None
    count = int(meta[META_CHUNKS_KEY])
    blob = "".join(meta[_chunk_key(i)] for i in range(count))
    instance = registry_pb2.Instance.FromString(zlib.decompress(base64.b64decode(blob)))
    instance.instance_id = service["ID"]
    host = service.get("Address") or (entry.get("Node") or {}).get("Address", "")
    instance.address = f"[{host}]:{service['Port']}" if ":" in host else f"{host}:{service['Port']}"
    instance.healthy = all(c.get("Status") == "passing" for c in entry.get("Checks") or [])
    return instance


def _split_host_port(address: str, default_port: int | None = None) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or "]" in port or (":" in host and not host.startswith("[")):
        if default_port is None:
            raise ValueError(f"address {address!r} is not host:port")
        return address.strip("[]"), default_port
    return host.strip("[]"), int(port)


def _duration(seconds: float) -> str:
    """Go duration text Consul accepts: 1500 -> "1500ms"."""
    return f"{round(seconds * 1000)}ms"


class ConsulRegistry:
    """`common.registry.Registry` over a Consul agent (see the module docstring).

    Args:
        address: host:port of the agent's HTTP API (port defaults to 8500).
        scheme: "http" or "https".
        token: ACL token (py-consul lets CONSUL_HTTP_TOKEN override it).
        verify: TLS verification for https (bool or CA bundle path).
        deregister_after_seconds: the check's DeregisterCriticalServiceAfter (Consul enforces at
            least 60 s).
        wait_seconds: longest a watch's blocking query waits for a change.
        timeout: seconds to wait for the agent to answer a non-blocking request.
        watch_rate: blocking queries per second each watch loop may make once its burst of 2 is
            spent (Consul's advice against busy loops when results churn).
        retry_first_seconds, retry_max_seconds: back-off of a watch while the agent is
            unreachable: ceilings of the first and of the longest pause (each pause is drawn
            below its ceiling, see `common.retry.Backoff`).
    """

    def __init__(
        self,
        address: str = "127.0.0.1:8500",
        scheme: str = "http",
        token: str | None = None,
        verify: bool | str = True,
        deregister_after_seconds: float = 60.0,
        wait_seconds: float = 30.0,
        timeout: float = 5.0,
        watch_rate: float = 1.0,
        retry_first_seconds: float = 0.5,
        retry_max_seconds: float = 30.0,
    ):
        host, port = _split_host_port(address, 8500)
        self._connection = {
            "host": host,
            "port": port,
            "scheme": scheme,
            "token": token,
            "verify": verify,
            "connections_timeout": timeout,
        }
        self._deregister_after = deregister_after_seconds
        self._wait = f"{max(1, round(wait_seconds))}s"
        self._watch_rate = watch_rate
        self._retry = Backoff(first=retry_first_seconds, cap=retry_max_seconds, attempts=None)
        self._client = self._new_client()
        self._client_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._snapshot: dict[str, list[registry_pb2.Instance]] = {}
        self._watchers: dict[str, threading.Event] = {}
        self._version = 0
        self._watching = False
        self._closed = threading.Event()

    def _new_client(self) -> consul.Consul:
        return consul.Consul(**self._connection)

    # Registry interface ----------------------------------------------------------------
    def register(self, instance: registry_pb2.Instance, ttl_seconds: int = DEFAULT_TTL) -> int:
        """Register `instance` with the agent; returns the lease-equivalent granted, seconds.

        The agent probes the instance every max(1, ttl/3) s, so a dead instance turns unhealthy
        within about a third of the ttl (connection refused) to two thirds (hung).
        """
        if not instance.services:
            raise ValueError(f"instance {instance.instance_id}: no gRPC services")
        ttl = int(ttl_seconds) or DEFAULT_TTL
        host, port = _split_host_port(instance.address)
        interval = _duration(max(1.0, ttl / 3.0))
        target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        stages = sorted({STAGE_TAGS[c.stage] for c in instance.capabilities})
        check = {
            "Name": "gRPC health",
            "GRPC": target,
            "GRPCUseTLS": False,
            "Interval": interval,
            "Timeout": interval,
            "DeregisterCriticalServiceAfter": _duration(self._deregister_after),
        }
        with self._client_lock:
            self._client.agent.service.register(
                consul_service_name(instance.services[0]),
                service_id=instance.instance_id,
                address=host,
                port=port,
                tags=[VIPRO_TAG, *stages],
                meta=encode_meta(instance),
                check=check,
                replace_existing_checks=True,
            )
        return ttl

    def heartbeat(self, instance_id: str) -> None:
        """Consul checks the instance itself; this only verifies the agent still has it.

        Raises:
            NotFound: the agent does not know `instance_id` (register again).
        """
        with self._client_lock:
            found = self._client.agent.service_definition(instance_id)
        if found is None:
            raise NotFound("instance", instance_id)

    def deregister(self, instance_id: str) -> bool:
        with self._client_lock:
            if self._client.agent.service_definition(instance_id) is None:
                return False
            return bool(self._client.agent.service.deregister(instance_id))

    def instances(self, service: str = "") -> list[registry_pb2.Instance]:
        """Registered instances with `healthy` set: from the watch's snapshot when watching,
        else straight from the agent (catalog, then health of each ViPro service)."""
        if self._watching:
            with self._state_lock:
                found = [i for group in self._snapshot.values() for i in group]
            out = []
            for inst in found:
                copy = registry_pb2.Instance()
                copy.CopyFrom(inst)
                out.append(copy)
        else:
            with self._client_lock:
                out = [i for group in self._query_all(self._client).values() for i in group]
        if service:
            out = [i for i in out if service in i.services]
        return sorted(out, key=lambda i: i.instance_id)

    def close(self) -> None:
        """Stop the watch threads (each ends when its current query returns) and disconnect."""
        self._closed.set()
        with self._state_lock:
            for stop in self._watchers.values():
                stop.set()
            self._watchers.clear()
        with self._client_lock:
            self._client.http.session.close()

    # Gateway view ----------------------------------------------------------------------
    def version(self) -> int:
        """A number that changes whenever `instances()` would answer differently.

        Meaningful once `start_watch` ran; before that it changes on every call, so callers
        always re-read.
        """
        if not self._watching:
            with self._state_lock:
                self._version += 1
        return self._version

    def start_watch(self) -> None:
        """Load the current state, then keep it fresh from blocking queries (daemon threads)."""
        if self._watching:
            return
        try:
            with self._client_lock:
                snapshot = self._query_all(self._client)
        except Exception as exc:
            log.warning("consul agent unreachable at start; watching anyway: %s", exc)
            snapshot = {}
        with self._state_lock:
            self._snapshot = snapshot
            self._version += 1
            self._watching = True
        threading.Thread(target=self._watch_catalog, daemon=True, name="consul-catalog").start()

    # Internals -------------------------------------------------------------------------
    @staticmethod
    def _vipro_names(services: dict | None) -> set[str]:
        return {name for name, tags in (services or {}).items() if VIPRO_TAG in (tags or [])}

    @staticmethod
    def _decode_all(name: str, entries: Iterable[dict] | None) -> list[registry_pb2.Instance]:
        out = []
        for entry in entries or []:
            try:
                inst = decode_entry(entry)
            except Exception as exc:
                service_id = (entry.get("Service") or {}).get("ID")
                log.warning("consul service %s/%s: undecodable meta: %s", name, service_id, exc)
                continue
            if inst is not None:
                out.append(inst)
        return sorted(out, key=lambda i: i.instance_id)

    def _query_all(self, client: consul.Consul) -> dict[str, list[registry_pb2.Instance]]:
        _, services = client.catalog.services()
        return {
            name: self._decode_all(name, client.health.service(name)[1])
            for name in sorted(self._vipro_names(services))
        }

    @staticmethod
    def _next_index(previous: int, returned) -> int:
        index = int(returned)
        if index < previous:  # went backwards: restart the blocking loop
            return 0
        return max(index, 1)

    def _blocking_loop(self, what: str, query, handle, stop: threading.Event) -> None:
        """Repeat `query(index)` -> (index, data) and `handle(data)` until `stop`/close."""
        bucket = TokenBucket(self._watch_rate, burst=2)
        delays = self._retry.delays()
        failing = False
        index = 0
        while not (stop.is_set() or self._closed.is_set()):
            bucket.wait(self._closed)
            try:
                returned, data = query(index)
            except Exception as exc:
                if stop.is_set() or self._closed.is_set():
                    return
                delay = next(delays)
                failing = True
                log.warning(
                    "consul watch of %s failed (%s); keeping the last snapshot, retrying in %.1fs",
                    what,
                    exc,
                    delay,
                )
                self._closed.wait(delay)
                continue
            if failing:
                log.info("consul watch of %s recovered", what)
                delays, failing = self._retry.delays(), False
            if stop.is_set() or self._closed.is_set():
                return
            handle(data)
            index = self._next_index(index, returned)

    def _watch_catalog(self) -> None:
        client = self._new_client()
        self._blocking_loop(
            "the catalog",
            lambda index: client.catalog.services(index=index or None, wait=self._wait),
            lambda services: self._sync_watchers(self._vipro_names(services)),
            self._closed,
        )

    def _sync_watchers(self, names: set[str]) -> None:
        with self._state_lock:
            for name in list(self._watchers):
                if name not in names:
                    self._watchers.pop(name).set()
            for name in list(self._snapshot):
                if name not in names and self._snapshot.pop(name):
                    self._version += 1
            for name in names - set(self._watchers):
                stop = threading.Event()
                self._watchers[name] = stop
                threading.Thread(
                    target=self._watch_service,
                    args=(name, stop),
                    daemon=True,
                    name=f"consul-{name}",
                ).start()

    def _watch_service(self, name: str, stop: threading.Event) -> None:
        client = self._new_client()
        self._blocking_loop(
            f"service {name}",
            lambda index: client.health.service(name, index=index or None, wait=self._wait),
            lambda entries: self._update(name, self._decode_all(name, entries), stop),
            stop,
        )

    def _update(self, name: str, found: list[registry_pb2.Instance], stop: threading.Event) -> None:
        with self._state_lock:
            if self._watchers.get(name) is not stop:
                return
            if self._snapshot.get(name, []) != found:
                self._snapshot[name] = found
                self._version += 1
