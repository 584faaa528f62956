"""The floor of any Python gRPC gateway: a bare asyncio forwarder with nothing but forwarding.

No auth, no routing, no metrics, no retries: every unary call to any method is passed as bytes,
with its headers, to one fixed upstream. The gateway benchmark runs it beside the real gateway so
the gateway's own cost can be told apart from the cost of one more gRPC hop in Python.

    python -m bench.bare_forwarder UPSTREAM_HOST:PORT  (prints the port it listens on)
"""

from __future__ import annotations

import asyncio
import sys

import grpc

from common.client import CHANNEL_OPTIONS


class Forwarder(grpc.GenericRpcHandler):
    """Forwards every unary-unary call to `upstream`."""

    def __init__(self, upstream: str):
        self.channel = grpc.aio.insecure_channel(upstream, options=CHANNEL_OPTIONS)

    def service(self, handler_call_details):
        call = self.channel.unary_unary(handler_call_details.method)

        async def forward(request: bytes, context):
            metadata = [(k, v) for k, v in context.invocation_metadata() if not k.startswith(":")]
            return await call(request, metadata=metadata, timeout=context.time_remaining())

        return grpc.unary_unary_rpc_method_handler(forward)


async def serve(upstream: str) -> None:
    server = grpc.aio.server(options=CHANNEL_OPTIONS)
    server.add_generic_rpc_handlers((Forwarder(upstream),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(port, flush=True)
    await server.wait_for_termination()


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1]))
