"""Forwarding capability calls to service instances without re-serialising them.

`Proxy` is a generic RPC handler: for any method the registry knows, it returns a handler whose
request and response are raw bytes, so the gateway never parses a payload. Unary and
server-streaming calls to idempotent methods are retried on another instance when one answers
UNAVAILABLE before sending anything; deadlines propagate (a default applies when the caller set
none); tenant and request id travel in headers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterator

import grpc

from common import logs
from common.client import CHANNEL_OPTIONS
from common.contracts import capability_name, find_method, is_idempotent
from common.errors import ServiceError, Unimplemented, abort_async
from common.interceptor import header
from common.internal import (
    API_KEY_HEADER,
    INTERNAL_TOKEN_HEADER,
    STAGE_HEADER,
    TENANT_HEADER,
    VERSION_HEADER,
)
from common.metrics import CAPABILITY_CALLS, split_method
from common.retry import Backoff, retryable
from gateway.metrics import RETRIES, UPSTREAM_CALLS, UPSTREAM_IN_FLIGHT, UPSTREAM_SECONDS
from gateway.routing import Route, Router

log = logging.getLogger(__name__)

# Headers never forwarded: the caller's credentials (the gateway vouches for the tenant instead),
# the request id (sent anew), and, by prefix, every x-vipro-* mesh header and HTTP/2 pseudo-header
# (a caller must not forge them).
_DROPPED = {API_KEY_HEADER, logs.REQUEST_ID_HEADER, "grpc-timeout"}


class MethodShape:
    """Cardinality and idempotency of a method, from the registry or the descriptor pool."""

    __slots__ = ("client_streaming", "idempotent", "server_streaming")

    def __init__(self, client_streaming: bool, server_streaming: bool, idempotent: bool):
        self.client_streaming = client_streaming
        self.server_streaming = server_streaming
        self.idempotent = idempotent


class Proxy(grpc.GenericRpcHandler):
    """Generic handler forwarding every capability method the registry knows.

    Args:
        router: picks instances.
        default_deadline: seconds allowed when the caller sets no deadline.
        retry_attempts: most instances tried for one idempotent call (one after the other, with
            no pause: each retry goes to an instance not tried yet).
        internal_token: the mesh's token, sent with every forwarded call so instances can tell
            the gateway's calls (and the tenant it vouches for) from anyone else's.
    """

    def __init__(
        self,
        router: Router,
        default_deadline: float = 60.0,
        retry_attempts: int = 3,
        internal_token: str = "",
    ):
        self.router = router
        self.internal_token = internal_token
        self.default_deadline = default_deadline
        self.retry = Backoff(first=0.0, attempts=max(1, retry_attempts))
        self._channels: dict[str, grpc.aio.Channel] = {}

    # Handler lookup ----------------------------------------------------------------------
    def shape(self, method: str) -> MethodShape | None:
        """How `method` is called, or None when nothing knows it."""
        decl = self.router.declaration(method)
        if decl is not None:
            return MethodShape(decl.client_streaming, decl.server_streaming, decl.idempotent)
        md = find_method(method)
        if md is None:
            return None
        return MethodShape(md.client_streaming, md.server_streaming, is_idempotent(md))

    def service(self, handler_call_details):
        method = handler_call_details.method
        shape = self.shape(method)
        if shape is None:
            error = Unimplemented(
                capability_name(method), "is not served by any registered instance"
            )

            async def unknown(_request, context):
                await abort_async(context, error)

            return grpc.unary_unary_rpc_method_handler(unknown)
        if shape.client_streaming and shape.server_streaming:
            return grpc.stream_stream_rpc_method_handler(self._stream_stream(method))
        if shape.client_streaming:
            return grpc.stream_unary_rpc_method_handler(self._stream_unary(method))
        if shape.server_streaming:
            return grpc.unary_stream_rpc_method_handler(self._unary_stream(method))
        return grpc.unary_unary_rpc_method_handler(self._unary_unary(method))

    # Plumbing ----------------------------------------------------------------------------
    def channel(self, address: str) -> grpc.aio.Channel:
        """A pooled channel to an instance."""
        channel = self._channels.get(address)
        if channel is None:
            channel = grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS)
            self._channels[address] = channel
        return channel

    def mesh_metadata(self, *extra: tuple[str, str]) -> tuple[tuple[str, str], ...]:
        """Headers the gateway adds to every call it makes to an instance: the tenant and request
        id of the current context and the internal token that proves the gateway sent them."""
        return (
            *extra,
            (TENANT_HEADER, logs.tenant.get()),
            (logs.REQUEST_ID_HEADER, logs.request_id.get()),
            (INTERNAL_TOKEN_HEADER, self.internal_token),
        )

    def outgoing_metadata(self, context: grpc.aio.ServicerContext):
        """The caller's headers minus credentials and mesh headers, plus `mesh_metadata()`."""
        forwarded = [
            (k, v)
            for k, v in context.invocation_metadata() or ()
            if k not in _DROPPED and not k.startswith((":", "x-vipro-"))
        ]
        return self.mesh_metadata(*forwarded)

    def timeout(self, context: grpc.aio.ServicerContext) -> float:
        remaining = context.time_remaining()
        return self.default_deadline if remaining is None else max(remaining, 0.0)

    def pick(self, method: str, metadata, exclude: frozenset[str]) -> Route:
        return self.router.pick(
            method, header(metadata, VERSION_HEADER), header(metadata, STAGE_HEADER), exclude
        )

    def _record(self, route: Route, method: str, code: grpc.StatusCode, t0: float) -> None:
        service, rpc = split_method(method)
        UPSTREAM_CALLS.labels(route.instance_id, service, rpc, code.name).inc()
        UPSTREAM_SECONDS.labels(route.instance_id).observe(time.perf_counter() - t0)
        CAPABILITY_CALLS.labels(route.capability, logs.tenant.get(), code.name).inc()

    def _enter(self, route: Route) -> float:
        self.router.begin(route)
        UPSTREAM_IN_FLIGHT.labels(route.instance_id).inc()
        return time.perf_counter()

    def _exit(self, route: Route, method: str, code: grpc.StatusCode, t0: float) -> None:
        self.router.end(route, reachable=code != grpc.StatusCode.UNAVAILABLE)
        UPSTREAM_IN_FLIGHT.labels(route.instance_id).dec()
        self._record(route, method, code, t0)

    # Calls -------------------------------------------------------------------------------
    def idempotent(self, method: str, route: Route) -> bool:
        """Whether the version `route` chose may be called again (its declaration, else the
        contract)."""
        if route.declaration is not None:
            return route.declaration.idempotent
        md = find_method(method)
        return md is not None and is_idempotent(md)

    def retry_delay(
        self, err: grpc.aio.AioRpcError, method: str, route: Route, delays: Iterator[float]
    ) -> float | None:
        """The pause before trying another instance after `err`, or None when `err` is the answer:
        not retryable, a call that may not be repeated, or no attempt or time left."""
        if not (retryable(err) and self.idempotent(method, route)):
            return None
        return next(delays, None)

    async def invoke(self, method: str, request: bytes, metadata: tuple, timeout: float) -> bytes:
        """Forward one unary call; an idempotent call answered UNAVAILABLE is retried on another
        instance while time and attempts remain.

        Used by the unary handler and by jobs and productions inside the gateway.

        Raises:
            grpc.aio.AioRpcError: the instance's final answer when it is an error (also when a
                retry finds no other instance: the instance's answer is the useful one).
            ServiceError: no instance could be chosen at all.
        """
        deadline = time.monotonic() + timeout
        delays = self.retry.delays(deadline)
        tried: frozenset[str] = frozenset()
        last_error: grpc.aio.AioRpcError | None = None
        while True:
            try:
                route = self.pick(method, metadata, tried)
            except ServiceError:
                if last_error is not None:
                    raise last_error from None
                raise
            t0 = self._enter(route)
            code = grpc.StatusCode.OK
            try:
                call = self.channel(route.address).unary_unary(method)
                return await call(
                    request, metadata=metadata, timeout=max(deadline - time.monotonic(), 0.001)
                )
            except grpc.aio.AioRpcError as err:
                code = err.code()
                tried = tried | {route.instance_id}
                last_error = err
                delay = self.retry_delay(err, method, route, delays)
                if delay is None:
                    raise
                RETRIES.labels(route.capability).inc()
                log.info("retrying on another instance", extra={"instance": route.instance_id})
            except asyncio.CancelledError:
                code = grpc.StatusCode.CANCELLED
                raise
            finally:
                self._exit(route, method, code, t0)
            await asyncio.sleep(delay)

    def _unary_unary(self, method: str):
        async def handle(request: bytes, context):
            try:
                return await self.invoke(
                    method, request, self.outgoing_metadata(context), self.timeout(context)
                )
            except grpc.aio.AioRpcError as err:
                await _relay_error(context, err)

        return handle

    def _unary_stream(self, method: str):
        async def handle(request: bytes, context) -> AsyncIterator[bytes]:
            metadata = self.outgoing_metadata(context)
            deadline = time.monotonic() + self.timeout(context)
            delays = self.retry.delays(deadline)
            tried: frozenset[str] = frozenset()
            last_error: grpc.aio.AioRpcError | None = None
            while True:
                try:
                    route = self.pick(method, metadata, tried)
                except ServiceError:
                    if last_error is None:
                        raise
                    await _relay_error(context, last_error)
                t0 = self._enter(route)
                code, sent = grpc.StatusCode.OK, False
                try:
                    call = self.channel(route.address).unary_stream(method)(
                        request, metadata=metadata, timeout=max(deadline - time.monotonic(), 0.001)
                    )
                    async for response in call:
                        sent = True
                        yield response
                    return
                except grpc.aio.AioRpcError as err:
                    code = err.code()
                    tried = tried | {route.instance_id}
                    last_error = err
                    delay = None if sent else self.retry_delay(err, method, route, delays)
                    if delay is None:
                        await _relay_error(context, err)
                    RETRIES.labels(route.capability).inc()
                finally:
                    self._exit(route, method, code, t0)
                await asyncio.sleep(delay)

        return handle

    def _stream_unary(self, method: str):
        async def handle(request_iterator, context):
            metadata = self.outgoing_metadata(context)
            route = self.pick(method, metadata, frozenset())
            t0 = self._enter(route)
            code = grpc.StatusCode.OK
            try:
                call = self.channel(route.address).stream_unary(method)
                return await call(
                    request_iterator, metadata=metadata, timeout=self.timeout(context)
                )
            except grpc.aio.AioRpcError as err:
                code = err.code()
                await _relay_error(context, err)
            finally:
                self._exit(route, method, code, t0)

        return handle

    def _stream_stream(self, method: str):
        async def handle(request_iterator, context) -> AsyncIterator[bytes]:
            metadata = self.outgoing_metadata(context)
            route = self.pick(method, metadata, frozenset())
            t0 = self._enter(route)
            code = grpc.StatusCode.OK
            try:
                call = self.channel(route.address).stream_stream(method)(
                    request_iterator, metadata=metadata, timeout=self.timeout(context)
                )
                async for response in call:
                    yield response
            except grpc.aio.AioRpcError as err:
                code = err.code()
                await _relay_error(context, err)
            finally:
                self._exit(route, method, code, t0)

        return handle

    async def prune(self) -> None:
        """Close channels to addresses no registered instance has any more."""
        self.router.refresh()
        for address in [a for a in self._channels if a not in self.router.addresses]:
            await self._channels.pop(address).close()

    async def close(self) -> None:
        """Close pooled channels."""
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()


async def _relay_error(context: grpc.aio.ServicerContext, err: grpc.aio.AioRpcError) -> None:
    """Answer the caller with the instance's status, details included."""
    details = [(k, v) for k, v in err.trailing_metadata() or () if k == "grpc-status-details-bin"]
    trailing = (*details, (logs.REQUEST_ID_HEADER, logs.request_id.get()))
    await context.abort(err.code(), err.details() or "", trailing_metadata=trailing)
