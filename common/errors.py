"""Errors as gRPC statuses with google.rpc details, raised by plain functions.

Capabilities and gateway code raise `ServiceError` (or a subclass); the server plumbing turns it
into a status with `grpc-status-details-bin` trailing metadata, which `grpc_status.rpc_status`
decodes on the client side.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from common import logs
from common.validation import Violation

DETAILS_KEY = "grpc-status-details-bin"


class ServiceError(Exception):
    """A failure with a gRPC status code, a message and google.rpc detail messages (messages, or
    already packed `Any`s)."""

    code = grpc.StatusCode.INTERNAL

    def __init__(self, message: str, *details, code: grpc.StatusCode | None = None):
        super().__init__(message)
        self.message = message
        self.details = list(details)
        if code is not None:
            self.code = code

    def to_status_proto(self) -> status_pb2.Status:
        """The google.rpc.Status this error travels as."""
        packed = []
        for detail in self.details:
            if isinstance(detail, any_pb2.Any):
                packed.append(detail)
                continue
            any_msg = any_pb2.Any()
            any_msg.Pack(detail)
            packed.append(any_msg)
        return status_pb2.Status(code=self.code.value[0], message=self.message, details=packed)

    @classmethod
    def relay(cls, err: grpc.RpcError, prefix: str = "") -> ServiceError:
        """The status another server answered (code, message, details), with `prefix` added to
        the message."""
        status = rpc_status.from_call(err)
        details = list(status.details) if status is not None else []
        return cls(f"{prefix}{err.details() or ''}", *details, code=err.code())

    def trailing_metadata(self) -> tuple[tuple[str, bytes], ...]:
        """Trailing metadata carrying the serialised status."""
        return ((DETAILS_KEY, self.to_status_proto().SerializeToString()),)


class InvalidArgument(ServiceError):
    """INVALID_ARGUMENT with a BadRequest detail listing field violations."""

    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, message: str, violations: Sequence[Violation] = ()):
        bad = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field=v.field, description=v.description
                )
                for v in violations
            ]
        )
        super().__init__(message, bad)

    @classmethod
    def field(cls, field: str, description: str) -> InvalidArgument:
        """One violated field; the message repeats it for clients that only read the text."""
        return cls(f"{field}: {description}", [Violation(field, description)])


class ResourceExhausted(ServiceError):
    """RESOURCE_EXHAUSTED with a QuotaFailure and, when a retry may succeed, RetryInfo."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED

    def __init__(
        self,
        message: str,
        subject: str = "",
        description: str = "",
        retry_after_seconds: float | None = None,
    ):
        details: list = [
            error_details_pb2.QuotaFailure(
                violations=[
                    error_details_pb2.QuotaFailure.Violation(
                        subject=subject, description=description or message
                    )
                ]
            )
        ]
        if retry_after_seconds is not None:
            delay = duration_pb2.Duration()
            delay.FromNanoseconds(int(retry_after_seconds * 1e9))
            details.append(error_details_pb2.RetryInfo(retry_delay=delay))
        super().__init__(message, *details)


class FailedPrecondition(ServiceError):
    """FAILED_PRECONDITION with a PreconditionFailure naming what is missing."""

    code = grpc.StatusCode.FAILED_PRECONDITION

    def __init__(self, message: str, missing: Iterable[tuple[str, str]] = ()):
        failure = error_details_pb2.PreconditionFailure(
            violations=[
                error_details_pb2.PreconditionFailure.Violation(
                    type=kind, subject=subject, description=message
                )
                for kind, subject in missing
            ]
        )
        super().__init__(message, failure)


class NotFound(ServiceError):
    """NOT_FOUND for a named resource."""

    code = grpc.StatusCode.NOT_FOUND

    def __init__(self, kind: str, name: str):
        info = error_details_pb2.ResourceInfo(resource_type=kind, resource_name=name)
        super().__init__(f"{kind} {name!r} not found", info)


class Unimplemented(ServiceError):
    """UNIMPLEMENTED naming the capability."""

    code = grpc.StatusCode.UNIMPLEMENTED

    def __init__(self, capability: str, why: str = "is not implemented by this server"):
        super().__init__(f"capability {capability} {why}")


class Cancelled(ServiceError):
    """CANCELLED: the caller, or the job's owner, cancelled the call."""

    code = grpc.StatusCode.CANCELLED

    def __init__(self, message: str = "the job was cancelled"):
        super().__init__(message)


class Unavailable(ServiceError):
    """UNAVAILABLE: try again later or elsewhere."""

    code = grpc.StatusCode.UNAVAILABLE


class Unauthenticated(ServiceError):
    """UNAUTHENTICATED: missing or wrong credentials."""

    code = grpc.StatusCode.UNAUTHENTICATED


class DataLoss(ServiceError):
    """DATA_LOSS: bytes arrived damaged (checksum or size mismatch)."""

    code = grpc.StatusCode.DATA_LOSS


def abort_sync(context: grpc.ServicerContext, error: ServiceError) -> None:
    """Abort a synchronous handler with `error` (raises, as grpc's abort does)."""
    context.abort_with_status(_SyncStatus(error))


async def abort_async(context: grpc.aio.ServicerContext, error: ServiceError) -> None:
    """Abort an asyncio handler with `error` (raises, as grpc's abort does); the request id
    travels along in the trailing metadata."""
    trailing = (*error.trailing_metadata(), (logs.REQUEST_ID_HEADER, logs.request_id.get()))
    await context.abort(error.code, error.message, trailing_metadata=trailing)


class _SyncStatus(grpc.Status):
    def __init__(self, error: ServiceError):
        self.code = error.code
        self.details = error.message
        self.trailing_metadata = error.trailing_metadata()


def decode_details(rpc_error: grpc.RpcError) -> list:
    """Unpack the google.rpc detail messages of a received error (client side)."""
    status = rpc_status.from_call(rpc_error)
    if status is None:
        return []
    out = []
    for any_msg in status.details:
        for cls in (
            error_details_pb2.BadRequest,
            error_details_pb2.RetryInfo,
            error_details_pb2.QuotaFailure,
            error_details_pb2.PreconditionFailure,
            error_details_pb2.ResourceInfo,
        ):
            if any_msg.Is(cls.DESCRIPTOR):
                msg = cls()
                any_msg.Unpack(msg)
                out.append(msg)
    return out
