"""Prometheus metrics every ViPro process serves, with the usual gRPC names.

`grpc_server_started_total`, `grpc_server_handled_total` and `grpc_server_handling_seconds`
follow go-grpc-prometheus / py-grpc-prometheus naming so existing dashboards and alerts work.
"""

from __future__ import annotations

import logging
import time

import grpc
from prometheus_client import Counter, Histogram, start_http_server

_access = logging.getLogger("vipro.access")

LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    30,
    60,
    300,
)

GRPC_STARTED = Counter(
    "grpc_server_started_total",
    "RPCs started on the server.",
    ["grpc_type", "grpc_service", "grpc_method"],
)
GRPC_HANDLED = Counter(
    "grpc_server_handled_total",
    "RPCs completed on the server, regardless of success or failure.",
    ["grpc_type", "grpc_service", "grpc_method", "grpc_code"],
)
GRPC_HANDLING = Histogram(
    "grpc_server_handling_seconds",
    "Response latency of RPCs handled by the server, seconds.",
    ["grpc_type", "grpc_service", "grpc_method"],
    buckets=LATENCY_BUCKETS,
)
CAPABILITY_CALLS = Counter(
    "vipro_capability_calls_total",
    "Capability calls by capability, tenant and status code.",
    ["capability", "tenant", "grpc_code"],
)


def split_method(full_method: str) -> tuple[str, str]:
    """'/pkg.Service/Method' -> ('pkg.Service', 'Method')."""
    _, service, method = full_method.split("/", 2) if full_method.count("/") >= 2 else ("", "", "")
    return service or "unknown", method or "unknown"


def rpc_type(handler: grpc.RpcMethodHandler | None) -> str:
    """gRPC type label: unary, client_stream, server_stream or bidi_stream."""
    if handler is None:
        return "unary"
    if handler.request_streaming and handler.response_streaming:
        return "bidi_stream"
    if handler.request_streaming:
        return "client_stream"
    if handler.response_streaming:
        return "server_stream"
    return "unary"


class RpcObservation:
    """Records one RPC: `started` on creation; `handled`, `handling_seconds` and one access-log
    line (with the request id and tenant of the context; DEBUG when OK, INFO otherwise) on
    `finish()`."""

    __slots__ = ("_done", "_labels", "_t0")

    def __init__(self, grpc_type: str, full_method: str):
        service, method = split_method(full_method)
        self._labels = (grpc_type, service, method)
        self._t0 = time.perf_counter()
        self._done = False
        GRPC_STARTED.labels(*self._labels).inc()

    def finish(self, code: grpc.StatusCode) -> None:
        """Record the outcome once; later calls are ignored."""
        if self._done:
            return
        self._done = True
        seconds = time.perf_counter() - self._t0
        GRPC_HANDLED.labels(*self._labels, code.name).inc()
        GRPC_HANDLING.labels(*self._labels).observe(seconds)
        # Successful calls log at DEBUG: a JSON line per call costs ~0.3 ms of CPU in Python,
        # a large share of a small call. Failures always log.
        _access.log(
            logging.DEBUG if code == grpc.StatusCode.OK else logging.INFO,
            "rpc",
            extra={
                "grpc_service": self._labels[1],
                "grpc_method": self._labels[2],
                "grpc_code": code.name,
                "ms": round(seconds * 1000.0, 3),
            },
        )


def serve_metrics(port: int, addr: str = "127.0.0.1") -> int:
    """Serve /metrics over HTTP on `addr:port` (0 picks a free port); returns the port."""
    server, _thread = start_http_server(port, addr=addr)
    return server.server_port
