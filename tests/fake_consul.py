"""An emulation of the parts of Consul's HTTP API that `common.registry.consul` uses.

THIS IS NOT CONSUL. No Consul binary can be obtained on the machine where ViPro's tests run, so
this module emulates one Consul agent (a single dev-mode server: agent, catalog and health views
are the same state) closely enough to exercise `ConsulRegistry` against real HTTP and real gRPC
health checks. It was written from Consul's documentation (api-docs ``agent/service``,
``agent/check``, ``health``, ``catalog``, ``features/blocking``) and, where the documentation is
silent, from Consul's source (status codes of unknown service IDs, default check IDs and names,
Meta validation, the 1 s minimum check interval, the gRPC check loop). Passing tests against it
show that ViPro speaks the documented API as understood here; they do not prove compatibility with
a real Consul release.

Emulated:

* ``PUT /v1/agent/service/register`` (``?replace-existing-checks``): fields ``Name`` (required,
  400 "Missing service name"), ``ID`` (defaults to the name), ``Tags``, ``Address``, ``Port``,
  ``Meta``, ``Weights``, ``EnableTagOverride``, ``Check``/``Checks``, with keys matched
  case-insensitively and snake_case accepted, as Consul does. Meta is validated like Consul: at
  most 64 pairs, keys ``[A-Za-z0-9_-]+`` of at most 128 characters not starting with ``consul-``,
  values of at most 512 bytes (400 "Invalid Service Meta: ..."). Re-registering an ID replaces the
  service; its checks restart ``critical`` (or their ``Status``); checks missing from the new
  definition are removed only with ``replace-existing-checks``.
* gRPC checks: ``GRPC`` ("host:port" or "host:port/service"), ``Interval`` (required, raised to
  Consul's 1 s minimum), ``Timeout`` (default 10 s), ``Status`` (initial, default ``critical``),
  ``CheckID``/``Name`` (default ``service:<id>`` or ``service:<id>:<n>``, and
  ``Service '<name>' check``), ``DeregisterCriticalServiceAfter``. Each check really runs
  ``grpc.health.v1.Health/Check`` against its target with grpcio, first at a random moment within
  one interval, then every interval; SERVING -> ``passing``, anything else (including connection
  failure or timeout) -> ``critical``. A status change bumps the Raft-like index; output-only
  changes do not (Consul defers those). A reaper removes a service whose check has been critical
  longer than ``max(DeregisterCriticalServiceAfter, deregister_min)``, every ``reap_interval``
  seconds (Consul: 60 s minimum, every 30 s; both are constructor arguments so tests can shorten
  them, as Consul's own tests do with its ``check_reap_interval`` and
  ``check_deregister_interval_min`` settings).
* ``PUT /v1/agent/service/deregister/:id``: 200, or 404 "Unknown service ID ..." as Consul's
  source does (the documentation says "no action is taken").
* ``GET /v1/agent/service/:id`` (404 for unknown IDs, ``ContentHash`` in body and
  ``X-Consul-ContentHash``), ``GET /v1/agent/services``, ``GET /v1/agent/checks``.
* ``GET /v1/catalog/services``: service name -> known tags, including the server's own
  ``consul`` service.
* ``GET /v1/health/service/:service`` with ``passing`` (every check passing) and ``tag``: entries
  ``{Node, Service, Checks}`` where Checks include the node's ``serfHealth`` check.
* Blocking queries on both read endpoints: ``X-Consul-Index`` on every answer; with ``index=N``
  (N > 0) the request waits until the result's index exceeds N or ``wait`` (default 5 min, capped
  at 10 min, Go duration syntax) plus up to wait/16 of random jitter has passed. Index rules
  follow Consul's state store: the catalog index is the services table's; a health query's index
  is its service's index (bumped by instance and check-status changes), or, for a service with no
  instances, the index at which the last service went extinct.
* ``dc`` other than the emulated datacenter -> 500 "No path to datacenter".
* `FakeConsul.stop` takes the agent down: open connections are cut and blocked queries are
  answered by dropping the connection; `FakeConsul.start` brings it back on the same port with
  its services (Consul persists API-registered services), restarting their checks.

Not emulated (a request using them gets 400 where noted, otherwise the parameter is ignored):
HTTP/TCP/TTL/script/Docker/H2PING/alias checks and gRPC TLS (400); ``Kind``, ``Proxy``,
``Connect``, ``TaggedAddresses`` and other service fields (400); ``filter`` (400); ACLs and tokens
(ignored: everything is allowed); consistency modes and agent caching (ignored); hash-based
blocking on ``/v1/agent/service/:id``; namespaces, partitions, peering; multiple nodes, gossip,
anti-entropy, Raft (one in-memory state); maintenance mode; ``SuccessBeforePassing`` /
``FailuresBeforeCritical``; ``warning`` status from gRPC checks; every endpoint not listed above
(404).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import re
import socket
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

MIN_INTERVAL = 1.0
DEFAULT_CHECK_TIMEOUT = 10.0
DEFAULT_WAIT = 300.0
MAX_WAIT = 600.0
META_KEY = re.compile(r"^[a-zA-Z0-9_-]+$")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}
_UNITS["h"] = 3600.0
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


class BadRequest(Exception):
    """Answered with status 400 and the message as body, as Consul does."""


def parse_duration(text) -> float:
    """Seconds of a Go duration ("10s", "1m30s", "250ms"); bare numbers are nanoseconds."""
    if isinstance(text, int | float):
        return float(text) / 1e9
    text = str(text).strip()
    if text in ("", "0"):
        return 0.0
    sign = -1.0 if text.startswith("-") else 1.0
    body = text.lstrip("+-")
    pos, total = 0, 0.0
    for match in _DURATION_PART.finditer(body):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(body) or not body:
        raise BadRequest(f'time: invalid duration "{text}"')
    return sign * total


def _trim(value: float) -> str:
    return f"{value:.9f}".rstrip("0").rstrip(".")


def go_duration(seconds: float) -> str:
    """Go's time.Duration.String(): 1.5 -> "1.5s", 60 -> "1m0s", 0.25 -> "250ms"."""
    ns = round(seconds * 1e9)
    if ns == 0:
        return "0s"
    sign, ns = ("-" if ns < 0 else ""), abs(ns)
    if ns < 1_000:
        return f"{sign}{ns}ns"
    if ns < 1_000_000:
        return f"{sign}{_trim(ns / 1e3)}µs"
    if ns < 1_000_000_000:
        return f"{sign}{_trim(ns / 1e6)}ms"
    hours, rest = divmod(ns, 3600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    out = f"{_trim(rest / 1e9)}s"
    if hours or minutes:
        out = f"{minutes}m{out}"
    if hours:
        out = f"{hours}h{out}"
    return sign + out


def _fold(obj: dict) -> dict:
    """Keys matched as Consul matches them: case-insensitive, snake_case accepted."""
    if not isinstance(obj, dict):
        raise BadRequest("Request decode failed: expected a JSON object")
    return {str(k).replace("_", "").lower(): v for k, v in obj.items()}


def validate_meta(meta: dict) -> None:
    """Consul's validateMetadata for service Meta."""
    if len(meta) > 64:
        raise BadRequest(
            "Invalid Service Meta: Node metadata cannot contain more than 64 key/value pairs"
        )
    for key, value in meta.items():
        problem = ""
        if key == "":
            problem = "Key cannot be blank"
        elif not META_KEY.match(key):
            problem = "Key contains invalid characters"
        elif len(key) > 128:
            problem = "Key is too long (limit: 128 characters)"
        elif key.startswith("consul-"):
            problem = "Key prefix 'consul-' is reserved for internal use"
        elif not isinstance(value, str):
            problem = "Value must be a string"
        elif len(value.encode()) > 512:
            problem = "Value is too long (limit: 512 characters)"
        if problem:
            raise BadRequest(
                f"Invalid Service Meta: Couldn't load metadata pair ('{key}', '{value}'): {problem}"
            )


@dataclass
class _Service:
    id: str
    name: str
    tags: list[str] | None
    address: str
    port: int
    meta: dict[str, str]
    weights: dict[str, int]
    enable_tag_override: bool
    create_index: int
    modify_index: int


@dataclass
class _Check:
    check_id: str
    name: str
    service_id: str
    service_name: str
    service_tags: list[str] | None
    grpc: str
    interval: float
    timeout: float
    deregister_after: float
    notes: str
    status: str
    create_index: int
    modify_index: int
    output: str = ""
    critical_since: float | None = None
    stop: threading.Event = field(default_factory=threading.Event)


class FakeConsul:
    """One emulated Consul agent on 127.0.0.1 (see the module docstring).

    Args:
        node, datacenter: names the agent reports.
        reap_interval: seconds between sweeps for services critical too long (Consul: 30).
        deregister_min: lower bound of DeregisterCriticalServiceAfter, seconds (Consul: 60).
    """

    def __init__(
        self,
        node: str = "fake-consul",
        datacenter: str = "dc1",
        reap_interval: float = 30.0,
        deregister_min: float = 60.0,
    ):
        self.node = node
        self.datacenter = datacenter
        self.reap_interval = reap_interval
        self.deregister_min = deregister_min
        self.node_id = str(uuid.uuid4())
        self._cond = threading.Condition(threading.RLock())
        self._index = 1
        self._services: dict[str, _Service] = {}
        self._checks: dict[str, _Check] = {}
        self._services_table_index = 1
        self._service_index: dict[str, int] = {}
        self._extinction_index = 0
        self._port = 0
        self._server: ThreadingHTTPServer | None = None
        self._connections: set[socket.socket] = set()
        self._running = False
        self._reaper_stop = threading.Event()
        self.requests: Counter[str] = Counter()
        """Requests served, by endpoint ("GET /v1/health/service/" ...)."""

    # Lifecycle ---------------------------------------------------------------------------
    @property
    def address(self) -> str:
        """host:port of the HTTP API."""
        return f"127.0.0.1:{self._port}"

    def start(self) -> FakeConsul:
        """Serve (again, on the same port after `stop`), and run the checks."""
        with self._cond:
            if self._running:
                return self
            server = ThreadingHTTPServer(("127.0.0.1", self._port), _Handler)
            server.daemon_threads = True
            server.fake = self  # type: ignore[attr-defined]
            self._server = server
            self._port = server.server_address[1]
            self._running = True
            self._reaper_stop = threading.Event()
            for check in self._checks.values():
                self._start_check(check)
        threading.Thread(
            target=server.serve_forever, args=(0.05,), daemon=True, name="fake-consul-http"
        ).start()
        threading.Thread(target=self._reap, daemon=True, name="fake-consul-reaper").start()
        return self

    def stop(self) -> None:
        """Take the agent down: stop checks, drop connections, stop listening."""
        with self._cond:
            if not self._running:
                return
            self._running = False
            self._reaper_stop.set()
            for check in self._checks.values():
                check.stop.set()
            server, self._server = self._server, None
            connections = list(self._connections)
            self._cond.notify_all()
        assert server is not None
        server.shutdown()
        server.server_close()
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> FakeConsul:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # State changes (caller holds the lock) --------------------------------------------------
    def _bump(self) -> int:
        self._index += 1
        self._cond.notify_all()
        return self._index

    def _touch_service(self, name: str, index: int) -> None:
        self._service_index[name] = index

    def register(self, body: dict, replace_existing_checks: bool) -> None:
        args = _fold(body)
        allowed = {"name", "id", "tags", "address", "port", "meta", "weights"}
        allowed |= {"enabletagoverride", "check", "checks"}
        unknown = sorted(k for k, v in args.items() if k not in allowed and v not in (None, ""))
        if unknown:
            raise BadRequest(f"fake_consul does not emulate service fields {unknown}")
        name = args.get("name") or ""
        if not name:
            raise BadRequest("Missing service name")
        service_id = args.get("id") or name
        meta = args.get("meta") or {}
        validate_meta(meta)
        weights = _fold(args.get("weights") or {"Passing": 1, "Warning": 1})
        weights = {
            "Passing": int(weights.get("passing", 1)),
            "Warning": int(weights.get("warning", 1)),
        }
        if weights["Passing"] < 1 or weights["Warning"] < 0:
            raise BadRequest("Invalid Weights: Passing must be greater than 0")
        tags = args.get("tags")
        definitions = []
        if args.get("check"):
            definitions.append(args["check"])
        definitions += list(args.get("checks") or [])
        parsed = [self._parse_check(_fold(d)) for d in definitions]
        with self._cond:
            index = self._bump()
            old = self._services.get(service_id)
            self._services[service_id] = _Service(
                id=service_id,
                name=name,
                tags=list(tags) if tags is not None else None,
                address=args.get("address") or "",
                port=int(args.get("port") or 0),
                meta=dict(meta),
                weights=weights,
                enable_tag_override=bool(args.get("enabletagoverride")),
                create_index=old.create_index if old else index,
                modify_index=index,
            )
            new_ids = set()
            for i, spec in enumerate(parsed):
                check_id = spec.pop("check_id") or (
                    f"service:{service_id}" + (f":{i + 1}" if len(parsed) > 1 else "")
                )
                new_ids.add(check_id)
                previous = self._checks.pop(check_id, None)
                if previous is not None:
                    previous.stop.set()
                check = _Check(
                    check_id=check_id,
                    name=spec.pop("name") or f"Service '{name}' check",
                    service_id=service_id,
                    service_name=name,
                    service_tags=list(tags) if tags is not None else None,
                    create_index=previous.create_index if previous else index,
                    modify_index=index,
                    **spec,
                )
                check.critical_since = time.monotonic() if check.status == "critical" else None
                self._checks[check_id] = check
                if self._running:
                    self._start_check(check)
            for check in list(self._checks.values()):
                if check.service_id != service_id or check.check_id in new_ids:
                    continue
                if replace_existing_checks:
                    check.stop.set()
                    del self._checks[check.check_id]
                else:  # kept: follow the service's new name and tags
                    check.service_name, check.service_tags = name, self._services[service_id].tags
            self._services_table_index = index
            self._touch_service(name, index)
            if old is not None and old.name != name:  # moved to another name
                self._touch_service(old.name, index)
                if not any(s.name == old.name for s in self._services.values()):
                    self._extinction_index = index

    @staticmethod
    def _parse_check(spec: dict) -> dict:
        kinds = {"http", "tcp", "udp", "ttl", "args", "scriptargs", "script", "h2ping"}
        kinds |= {"dockercontainerid", "aliasservice", "aliasnode", "osservice"}
        other = sorted(k for k in kinds if spec.get(k))
        if other or not spec.get("grpc"):
            raise BadRequest(f"fake_consul emulates only gRPC checks (got {other or 'none'})")
        if spec.get("grpcusetls"):
            raise BadRequest("fake_consul does not emulate gRPC checks over TLS")
        if spec.get("successbeforepassing") or spec.get("failuresbeforecritical"):
            raise BadRequest("fake_consul does not emulate SuccessBeforePassing/FailuresBefore*")
        status = spec.get("status") or "critical"
        if status not in ("passing", "warning", "critical"):
            raise BadRequest("Status for checks must 'passing', 'warning', 'critical'")
        interval = parse_duration(spec.get("interval") or 0)
        if interval <= 0:
            raise BadRequest(
                "Invalid check: Interval must be > 0 for Script, HTTP, H2PING, TCP or UDP checks"
            )
        timeout = parse_duration(spec.get("timeout") or 0) or DEFAULT_CHECK_TIMEOUT
        return {
            "check_id": spec.get("checkid") or spec.get("id") or "",
            "name": spec.get("name") or "",
            "grpc": spec["grpc"],
            "interval": max(interval, MIN_INTERVAL),
            "timeout": timeout,
            "deregister_after": parse_duration(spec.get("deregistercriticalserviceafter") or 0),
            "notes": spec.get("notes") or "",
            "status": status,
        }

    def deregister(self, service_id: str) -> bool:
        with self._cond:
            service = self._services.pop(service_id, None)
            if service is None:
                return False
            index = self._bump()
            for check in list(self._checks.values()):
                if check.service_id == service_id:
                    check.stop.set()
                    del self._checks[check.check_id]
            self._services_table_index = index
            self._touch_service(service.name, index)
            if not any(s.name == service.name for s in self._services.values()):
                self._extinction_index = index
            return True

    # Checks ------------------------------------------------------------------------------
    def _start_check(self, check: _Check) -> None:
        check.stop = threading.Event()
        threading.Thread(
            target=self._run_check, args=(check,), daemon=True, name=f"check-{check.check_id}"
        ).start()

    def _run_check(self, check: _Check) -> None:
        stop = check.stop
        if stop.wait(random.uniform(0.0, check.interval)):
            return
        while True:
            status, output = self._probe(check)
            self._record(check, stop, status, output)
            if stop.wait(check.interval):
                return

    def _probe(self, check: _Check) -> tuple[str, str]:
        target, _, service = check.grpc.partition("/")
        channel = grpc.insecure_channel(target)
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=check.timeout
            )
        except grpc.RpcError as err:
            return "critical", f"rpc error: code = {err.code().name} desc = {err.details()}"
        finally:
            channel.close()
        if reply.status == health_pb2.HealthCheckResponse.SERVING:
            return "passing", f"gRPC check {check.grpc}: success"
        name = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
        return "critical", f"gRPC {check.grpc} serving status: {name}"

    def _record(self, check: _Check, stop: threading.Event, status: str, output: str) -> None:
        with self._cond:
            if stop.is_set() or self._checks.get(check.check_id) is not check:
                return
            check.output = output
            if status == check.status:
                return
            check.status = status
            check.critical_since = time.monotonic() if status == "critical" else None
            index = self._bump()
            check.modify_index = index
            self._touch_service(check.service_name, index)

    def _reap(self) -> None:
        stop = self._reaper_stop
        while not stop.wait(self.reap_interval):
            now = time.monotonic()
            with self._cond:
                doomed = {
                    c.service_id
                    for c in self._checks.values()
                    if c.deregister_after > 0
                    and c.critical_since is not None
                    and now - c.critical_since > max(c.deregister_after, self.deregister_min)
                }
            for service_id in doomed:
                self.deregister(service_id)

    # Views (caller holds the lock) -------------------------------------------------------
    def _service_json(self, s: _Service, agent: bool) -> dict:
        out = {
            "ID": s.id,
            "Service": s.name,
            "Tags": s.tags,
            "Address": s.address,
            "Meta": s.meta,
            "Port": s.port,
            "Weights": s.weights,
            "EnableTagOverride": s.enable_tag_override,
        }
        if agent:
            out["Datacenter"] = self.datacenter
        else:
            out.update(
                Proxy={"Mode": "", "MeshGateway": {}, "Expose": {}},
                Connect={},
                PeerName="",
                CreateIndex=s.create_index,
                ModifyIndex=s.modify_index,
            )
        return out

    def _check_json(self, c: _Check) -> dict:
        return {
            "Node": self.node,
            "CheckID": c.check_id,
            "Name": c.name,
            "Status": c.status,
            "Notes": c.notes,
            "Output": c.output,
            "ServiceID": c.service_id,
            "ServiceName": c.service_name,
            "ServiceTags": c.service_tags or [],
            "Type": "grpc",
            "Interval": go_duration(c.interval),
            "Timeout": go_duration(c.timeout),
            "ExposedPort": 0,
            "Definition": {
                "GRPC": c.grpc,
                "GRPCUseTLS": False,
                "Interval": go_duration(c.interval),
                "Timeout": go_duration(c.timeout),
                "DeregisterCriticalServiceAfter": go_duration(c.deregister_after),
            },
            "CreateIndex": c.create_index,
            "ModifyIndex": c.modify_index,
        }

    def _node_json(self) -> dict:
        return {
            "ID": self.node_id,
            "Node": self.node,
            "Address": "127.0.0.1",
            "Datacenter": self.datacenter,
            "TaggedAddresses": {"lan": "127.0.0.1", "wan": "127.0.0.1"},
            "Meta": {"consul-network-segment": ""},
            "CreateIndex": 1,
            "ModifyIndex": 1,
        }

    def _serf_json(self) -> dict:
        return {
            "Node": self.node,
            "CheckID": "serfHealth",
            "Name": "Serf Health Status",
            "Status": "passing",
            "Notes": "",
            "Output": "Agent alive and reachable",
            "ServiceID": "",
            "ServiceName": "",
            "ServiceTags": [],
            "Type": "",
            "Interval": "",
            "Timeout": "",
            "ExposedPort": 0,
            "Definition": {},
            "CreateIndex": 1,
            "ModifyIndex": 1,
        }

    def catalog_services(self) -> tuple[int, dict]:
        out: dict[str, set[str]] = {"consul": set()}
        for s in self._services.values():
            out.setdefault(s.name, set()).update(s.tags or [])
        return self._services_table_index, {k: sorted(v) for k, v in out.items()}

    def health_service_index(self, name: str) -> int:
        if any(s.name == name for s in self._services.values()):
            return self._service_index[name]
        return self._extinction_index or self._index

    def health_service(self, name: str, passing: bool, tags: list[str]) -> tuple[int, list]:
        entries = []
        for s in sorted(self._services.values(), key=lambda s: s.id):
            if s.name != name or not set(tags) <= set(s.tags or []):
                continue
            checks = [self._serf_json()] + [
                self._check_json(c) for c in self._checks.values() if c.service_id == s.id
            ]
            if passing and any(c["Status"] != "passing" for c in checks):
                continue
            entries.append(
                {
                    "Node": self._node_json(),
                    "Service": self._service_json(s, False),
                    "Checks": checks,
                }
            )
        return self.health_service_index(name), entries

    def wait_for(self, current_index, index: int, wait: float) -> bool:
        """Block until `current_index()` > `index` or `wait` (+ jitter) passed.

        Returns False when the agent went down meanwhile. Caller holds the lock.
        """
        deadline = time.monotonic() + wait + random.uniform(0.0, wait / 16.0)
        while self._running and current_index() <= index:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._cond.wait(remaining)
        return self._running


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-consul"
    disable_nagle_algorithm = True  # headers and body are separate writes

    @property
    def fake(self) -> FakeConsul:
        return self.server.fake  # type: ignore[attr-defined]

    def setup(self) -> None:
        super().setup()
        with self.fake._cond:
            self.fake._connections.add(self.connection)

    def finish(self) -> None:
        with self.fake._cond:
            self.fake._connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format, *args) -> None:
        pass

    # Plumbing ----------------------------------------------------------------------------
    def _send(self, code: int, body, headers: dict | None = None) -> None:
        if isinstance(body, str):
            data, kind = body.encode(), "text/plain; charset=utf-8"
        else:
            data, kind = json.dumps(body).encode(), "application/json"
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _drop(self) -> None:
        """The agent went down mid-request: no answer, connection closed."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _blocking(self, params) -> tuple[int, float]:
        try:
            index = int(params.get("index", ["0"])[0] or 0)
        except ValueError:
            raise BadRequest("Invalid index") from None
        wait = parse_duration(params["wait"][0]) if params.get("wait") else DEFAULT_WAIT
        return index, min(max(wait, 0.0), MAX_WAIT)

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        path = url.path
        params = parse_qs(url.query, keep_blank_values=True)
        body = self._body() if method == "PUT" else b""
        fake = self.fake
        if not fake._running:
            return self._drop()
        if params.get("dc", [fake.datacenter])[0] not in ("", fake.datacenter):
            return self._send(500, "No path to datacenter")
        if params.get("filter", [""])[0]:
            return self._send(400, "fake_consul does not emulate the filter parameter")
        routes = [
            ("PUT", "/v1/agent/service/register", self._register),
            ("PUT", "/v1/agent/service/deregister/", self._deregister),
            ("GET", "/v1/agent/services", self._agent_services),
            ("GET", "/v1/agent/checks", self._agent_checks),
            ("GET", "/v1/agent/service/", self._agent_service),
            ("GET", "/v1/catalog/services", self._catalog_services),
            ("GET", "/v1/health/service/", self._health_service),
        ]
        for route_method, prefix, handler in routes:
            exact = not prefix.endswith("/")
            if (exact and path == prefix) or (not exact and path.startswith(prefix)):
                if method != route_method:
                    return self._send(405, f"method {method} not allowed")
                rest = unquote(path[len(prefix) :])
                with fake._cond:
                    fake.requests[f"{method} {prefix}"] += 1
                try:
                    return handler(rest, params, body)
                except BadRequest as err:
                    return self._send(400, str(err))
        self._send(404, "")

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # Endpoints ---------------------------------------------------------------------------
    def _register(self, _rest, params, body) -> None:
        try:
            payload = json.loads(body or b"null")
        except ValueError as err:
            raise BadRequest(f"Request decode failed: {err}") from None
        replace = params.get("replace-existing-checks", ["false"])[0] in ("", "true")
        self.fake.register(payload, replace)
        self._send(200, "")

    def _deregister(self, service_id, _params, _body) -> None:
        if self.fake.deregister(service_id):
            self._send(200, "")
        else:
            self._send(
                404,
                f'Unknown service ID "{service_id}". '
                "Ensure that the service ID is passed, not the service name.",
            )

    def _agent_service(self, service_id, _params, _body) -> None:
        with self.fake._cond:
            service = self.fake._services.get(service_id)
            data = self.fake._service_json(service, True) if service else None
        if data is None:
            return self._send(404, f"unknown service ID: {service_id}")
        digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]
        data["ContentHash"] = digest
        self._send(200, data, {"X-Consul-ContentHash": digest})

    def _agent_services(self, _rest, _params, _body) -> None:
        with self.fake._cond:
            data = {s.id: self.fake._service_json(s, True) for s in self.fake._services.values()}
        self._send(200, data)

    def _agent_checks(self, _rest, _params, _body) -> None:
        with self.fake._cond:
            data = {c.check_id: self.fake._check_json(c) for c in self.fake._checks.values()}
        self._send(200, data)

    def _read_headers(self, index: int) -> dict:
        return {
            "X-Consul-Index": str(max(index, 1)),
            "X-Consul-KnownLeader": "true",
            "X-Consul-LastContact": "0",
        }

    def _catalog_services(self, _rest, params, _body) -> None:
        fake = self.fake
        index, wait = self._blocking(params)
        with fake._cond:
            if index > 0 and not fake.wait_for(lambda: fake._services_table_index, index, wait):
                return self._drop()
            current, data = fake.catalog_services()
        self._send(200, data, self._read_headers(current))

    def _health_service(self, name, params, _body) -> None:
        fake = self.fake
        index, wait = self._blocking(params)
        passing = params.get("passing", ["false"])[0].lower() not in ("false", "0")
        tags = params.get("tag", [])
        with fake._cond:
            if index > 0 and not fake.wait_for(
                lambda: fake.health_service_index(name), index, wait
            ):
                return self._drop()
            current, data = fake.health_service(name, passing, tags)
        self._send(200, data, self._read_headers(current))
