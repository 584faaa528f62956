"""Server interceptor for synchronous gRPC servers: caller check, context, metrics, errors.

For each RPC it checks the mesh's internal token (when the server has one: only the gateway and
other mesh processes may call, and only they may say which tenant a call is for), sets the
`request_id`/`tenant` context variables from the headers the gateway sends, records the standard
gRPC server metrics, and turns a `ServiceError` raised by a handler into its status (any other
exception becomes INTERNAL and is logged with its traceback).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Iterator

import grpc

from common import logs
from common.errors import ServiceError, Unauthenticated, abort_sync
from common.internal import INTERNAL_TOKEN_HEADER, TENANT_HEADER
from common.metrics import RpcObservation, rpc_type

log = logging.getLogger(__name__)


def header(metadata, key: str) -> str:
    """First value of `key` in gRPC metadata, or ''."""
    for k, v in metadata or ():
        if k == key:
            return v if isinstance(v, str) else v.decode()
    return ""


PUBLIC_PREFIXES = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)


class ServerInterceptor(grpc.ServerInterceptor):
    """Wraps every handler of a synchronous server; see the module docstring.

    Args:
        internal_token: the mesh's token; when set, every call but health and reflection must
            carry it in x-vipro-internal-token (UNAUTHENTICATED otherwise).
    """

    def __init__(self, internal_token: str = ""):
        self.internal_token = internal_token

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        metadata = handler_call_details.invocation_metadata
        if (
            self.internal_token
            and not method.startswith(PUBLIC_PREFIXES)
            and not hmac.compare_digest(
                header(metadata, INTERNAL_TOKEN_HEADER), self.internal_token
            )
        ):
            return _refuse(handler, Unauthenticated(f"{method} only answers the mesh's gateway"))
        kind = rpc_type(handler)
        args = (method, metadata, kind)
        if handler.unary_unary:
            return handler._replace(unary_unary=self._wrap_unary(handler.unary_unary, *args))
        if handler.stream_unary:
            return handler._replace(stream_unary=self._wrap_unary(handler.stream_unary, *args))
        if handler.unary_stream:
            return handler._replace(unary_stream=self._wrap_stream(handler.unary_stream, *args))
        return handler._replace(stream_stream=self._wrap_stream(handler.stream_stream, *args))

    @staticmethod
    def _enter(metadata) -> None:
        logs.request_id.set(header(metadata, logs.REQUEST_ID_HEADER) or logs.new_request_id())
        logs.tenant.set(header(metadata, TENANT_HEADER))

    def _wrap_unary(self, behavior: Callable, method: str, metadata, kind: str) -> Callable:
        def wrapper(request, context: grpc.ServicerContext):
            self._enter(metadata)
            observation = RpcObservation(kind, method)
            try:
                response = behavior(request, context)
            except BaseException as exc:
                observation.finish(_failure_code(exc, context))
                _reraise(exc, context, method)
            observation.finish(context.code() or grpc.StatusCode.OK)
            return response

        return wrapper

    def _wrap_stream(self, behavior: Callable, method: str, metadata, kind: str) -> Callable:
        def wrapper(request, context: grpc.ServicerContext) -> Iterator:
            self._enter(metadata)
            observation = RpcObservation(kind, method)
            try:
                yield from behavior(request, context)
            except BaseException as exc:
                observation.finish(_failure_code(exc, context))
                _reraise(exc, context, method)
            observation.finish(context.code() or grpc.StatusCode.OK)

        return wrapper


def _refuse(handler: grpc.RpcMethodHandler, error: ServiceError) -> grpc.RpcMethodHandler:
    """A handler of the same shape as `handler` that answers `error`."""

    def refuse(_request, context):
        abort_sync(context, error)

    kind = rpc_type(handler)
    make = {
        "unary": grpc.unary_unary_rpc_method_handler,
        "client_stream": grpc.stream_unary_rpc_method_handler,
        "server_stream": grpc.unary_stream_rpc_method_handler,
        "bidi_stream": grpc.stream_stream_rpc_method_handler,
    }[kind]
    return make(refuse)


def _failure_code(exc: BaseException, context: grpc.ServicerContext) -> grpc.StatusCode:
    if isinstance(exc, ServiceError):
        return exc.code
    if isinstance(exc, GeneratorExit):
        return grpc.StatusCode.CANCELLED
    return context.code() or grpc.StatusCode.INTERNAL


def _reraise(exc: BaseException, context: grpc.ServicerContext, method: str):
    if isinstance(exc, ServiceError):
        abort_sync(context, exc)
    if context.code() is None and isinstance(exc, Exception):
        log.exception("unhandled error in %s", method)
        context.abort(grpc.StatusCode.INTERNAL, f"internal error in {method}")
    raise exc
