"""A third-party provider for the tests: serves vipro_test.v1.EchoService with the SDK.

The generated echo_pb2 module must be importable (the tests compile echo.proto into a folder on
PYTHONPATH). Version and stage come from ECHO_VERSION and ECHO_STAGE.
"""

import os
import time

import echo_pb2  # generated at test time

from common.provider import Capability, Provider, main

SERVICE = "vipro_test.v1.EchoService"
VERSION = os.environ.get("ECHO_VERSION", "1.0.0")
STAGE = os.environ.get("ECHO_STAGE", "ga")


def _reply(payload: bytes, ctx) -> echo_pb2.EchoResponse:
    return echo_pb2.EchoResponse(
        payload=payload, instance_id=ctx.instance_id, version=VERSION, tenant=ctx.tenant
    )


def echo(request, ctx):
    """Echo the payload after delay_ms."""
    deadline = time.monotonic() + request.delay_ms / 1000.0
    while time.monotonic() < deadline and not ctx.cancelled():
        ctx.report_progress(1.0 - (deadline - time.monotonic()) * 1000.0 / max(request.delay_ms, 1))
        time.sleep(0.01)
    return _reply(request.payload, ctx)


def chunks(request, ctx):
    """Split the payload into `count` messages."""
    count = max(request.count, 1)
    step = max(1, -(-len(request.payload) // count))
    for i in range(count):
        yield _reply(request.payload[i * step : (i + 1) * step], ctx)


def total(requests, ctx):
    """Concatenate every payload."""
    return _reply(b"".join(r.payload for r in requests), ctx)


def chat(requests, ctx):
    """Answer each message."""
    for request in requests:
        yield _reply(request.payload, ctx)


CAPABILITIES = [
    Capability("echo.Echo", echo, VERSION, STAGE, service=SERVICE),
    Capability("echo.Chunks", chunks, VERSION, STAGE, service=SERVICE),
    Capability("echo.Sum", total, VERSION, STAGE, service=SERVICE),
    Capability("echo.Chat", chat, VERSION, STAGE, service=SERVICE),
]

if __name__ == "__main__":
    main(Provider(os.environ.get("ECHO_NAME", "echo"), CAPABILITIES))
