"""Provider SDK: turn plain functions into a registered, observable gRPC capability server.

An algorithm provider writes a function and declares it::

    from common.provider import Provider, capability

    @capability("editing.ConvertImage", version="1.0.0", stage="ga")
    def convert_image(request, ctx):
        pixels = ctx.read_image(request.image, "image")
        ...
        return editing_pb2.ConvertImageResponse(image=ctx.image_output(out, request.output))

    Provider("editing", [convert_image]).run()

`Provider.run()` serves every RPC of the family's service: requests are checked against the
contract's rules first (INVALID_ARGUMENT with field violations); RPCs without a capability answer
UNIMPLEMENTED naming it. It adds gRPC health, server reflection, Prometheus metrics, JSON logs,
registration with heartbeats, and a graceful drain on SIGTERM.
"""

from __future__ import annotations

import difflib
import inspect
import logging
import operator
import os
import signal
import socket
import threading
import time
import typing
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import grpc
import numpy as np
from google.protobuf import message_factory
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from common import adapters, logs, media
from common.admission import MemoryBudget, MemoryCost, default_budget, parse_bytes
from common.client import CHANNEL_OPTIONS, AssetClient, internal_headers
from common.contracts import STAGES, family_service, find_service, is_idempotent
from common.errors import (
    Cancelled,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    ServiceError,
    Unimplemented,
)
from common.inference import Inference
from common.interceptor import ServerInterceptor, header
from common.internal import JOB_HEADER
from common.metrics import CAPABILITY_CALLS, serve_metrics
from common.registry import Registry, connect
from common.validation import lenient, validate
from vipro.v1 import common_pb2, jobs_pb2, jobs_pb2_grpc, registry_pb2

log = logging.getLogger(__name__)

INLINE_LIMIT = 3 << 20
"""Largest inline output (bytes); larger outputs become assets."""

MAX_READ_BYTES = 256 << 20
"""Largest input a capability reads into memory (bytes); an image of this size already decodes
to far more than MAX_PIXELS."""


@dataclass(frozen=True)
class Resource:
    """Something capabilities share for the life of the process: a warm model, a search
    index, fonts, layout templates, a client.

    Attributes:
        name: how handlers reach it: ``ctx.resource(name)``.
        setup: ``() -> value``, called once when the provider starts, before it reports
            SERVING; an exception stops the start.
        teardown: ``value -> None``, called when the provider stops (in reverse order of
            setup); None when nothing needs freeing.
    """

    name: str
    setup: Callable[[], Any]
    teardown: Callable[[Any], None] | None = None


@dataclass(frozen=True)
class Capability:
    """One RPC a provider serves.

    Attributes:
        name: "<family>.<Rpc>", e.g. "editing.ConvertImage".
        function: ``f(request, ctx) -> response``; streaming RPCs take an iterator of requests
            and/or yield responses.
        version: semantic version of this implementation.
        stage: "experimental", "ga" or "deprecated".
        description: one line for the catalog (defaults to the function's docstring).
        service: full gRPC service name; derived from the family when empty.
        models: Triton models the function uses (declared in the registry; the function
            checks them with `ctx.inference.require`).
        memory: what one call costs in memory per input pixel (`ctx.read_image` and
            `ctx.admit` reserve it from the process's budget before decoding); None admits
            every input up to media.MAX_PIXELS.
        resources: what the function reaches through `ctx.resource` (set up once per
            process, shared by every capability that names the same resource).

    Raises:
        ValueError: when declared, if no contract defines the RPC, or the function's
            annotated request or response type is not the RPC's.
    """

    name: str
    function: Callable
    version: str = "1.0.0"
    stage: str = "ga"
    description: str = ""
    service: str = ""
    models: tuple[str, ...] = ()
    memory: MemoryCost | None = None
    resources: tuple[Resource, ...] = ()

    def __post_init__(self) -> None:
        """Fail at import, not when serving, when the declaration and the contract disagree."""
        family, _, rpc = self.name.partition(".")
        if not family or not rpc:
            raise ValueError(f"capability name {self.name!r} is not <family>.<Rpc>")
        try:
            methods = find_service(self.service_name).methods_by_name
        except KeyError:
            raise ValueError(
                f"capability {self.name}: no contract defines service {self.service_name}"
            ) from None
        if rpc not in methods:
            close = difflib.get_close_matches(rpc, list(methods), n=3)
            hint = f"; did you mean {', '.join(f'{family}.{c}' for c in close)}?" if close else ""
            raise ValueError(f"capability {self.name}: {self.service_name} has no RPC {rpc}{hint}")
        self._check_types(methods[rpc])

    def _check_types(self, md: MethodDescriptor) -> None:
        """The function's annotated request and return types, where given, must be the RPC's
        messages (streaming RPCs are not checked: they take and yield iterators)."""
        if md.client_streaming or md.server_streaming:
            return
        try:
            hints = typing.get_type_hints(self.function)
        except (NameError, TypeError):
            return  # annotations that do not resolve at import cannot be checked here
        params = list(inspect.signature(self.function).parameters)
        for what, hint, expected in (
            ("request", hints.get(params[0]) if params else None, md.input_type),
            ("response", hints.get("return"), md.output_type),
        ):
            descriptor = getattr(hint, "DESCRIPTOR", None)
            if descriptor is not None and descriptor.full_name != expected.full_name:
                raise ValueError(
                    f"capability {self.name}: {self.function.__name__} declares its {what} as "
                    f"{descriptor.full_name}; {self.rpc} takes {md.input_type.full_name} and "
                    f"returns {md.output_type.full_name}"
                )

    @property
    def family(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def rpc(self) -> str:
        return self.name.split(".", 1)[1]

    @property
    def service_name(self) -> str:
        return self.service or family_service(self.family)

    @property
    def method(self) -> str:
        return f"/{self.service_name}/{self.rpc}"

    def declaration(self) -> registry_pb2.CapabilityDeclaration:
        """What the registry records about this capability."""
        md = find_service(self.service_name).methods_by_name[self.rpc]
        return registry_pb2.CapabilityDeclaration(
            name=self.name,
            method=self.method,
            version=self.version,
            stage=STAGES[self.stage],
            idempotent=is_idempotent(md),
            description=self.description or (self.function.__doc__ or "").strip().split("\n")[0],
            client_streaming=md.client_streaming,
            server_streaming=md.server_streaming,
            input_type=md.input_type.full_name,
            output_type=md.output_type.full_name,
            models=self.models,
        )


def advertised_host(host: str) -> str:
    """The host name others dial: a wildcard bind address is replaced by this machine's name."""
    return socket.gethostname() if host in ("", "0.0.0.0", "::", "[::]") else host


def capability(
    name: str,
    version: str = "1.0.0",
    stage: str = "ga",
    description: str = "",
    models: tuple[str, ...] = (),
    memory: MemoryCost | None = None,
    resources: tuple[Resource, ...] = (),
) -> Callable[[Callable], Capability]:
    """Decorator declaring a function as capability `name` (see `Capability`).

    Raises:
        ValueError: an unknown stage or RPC name, or request/response types that are not the
            RPC's (at import, naming the close matches).
    """
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {sorted(STAGES)}, got {stage!r}")

    def wrap(function: Callable) -> Capability:
        return Capability(
            name,
            function,
            version,
            stage,
            description,
            models=tuple(models),
            memory=memory,
            resources=tuple(resources),
        )

    return wrap


@dataclass
class MeshLinks:
    """How a provider reaches the rest of the mesh.

    Attributes:
        gateway: host:port of the gateway (assets and job progress).
        internal_token: the mesh's internal token.
        triton: host:port of Triton's gRPC endpoint, for capabilities that run models.
        triton_shm_bytes: tensors this large go to Triton through shared memory (same host
            only; 0 disables).
        memory: the process's memory budget, shared by its calls (see common.admission).
    """

    gateway: str = ""
    internal_token: str = ""
    triton: str = ""
    triton_shm_bytes: int = 0
    memory: MemoryBudget = field(default_factory=lambda: MemoryBudget(default_budget()))
    _channel: grpc.Channel | None = field(default=None, init=False, repr=False)
    _inference: Inference | None = field(default=None, init=False, repr=False)

    def inference(self) -> Inference:
        """The shared Triton client.

        Raises:
            FailedPrecondition: this provider was started without a Triton address.
        """
        if not self.triton:
            raise FailedPrecondition(
                "this service has no Triton address (start it with --triton host:port)",
                [("SERVICE", "triton")],
            )
        if self._inference is None:
            self._inference = Inference(self.triton, shm_threshold=self.triton_shm_bytes)
        return self._inference

    def channel(self) -> grpc.Channel:
        if not self.gateway:
            raise ServiceError("this provider has no gateway address for assets")
        if self._channel is None:
            self._channel = grpc.insecure_channel(self.gateway, options=CHANNEL_OPTIONS)
        return self._channel


class CallContext:
    """What a capability function gets besides its request.

    It reads input media (inline or asset), delivers outputs, times stages, reports progress and
    tells whether the caller went away.
    """

    def __init__(
        self,
        grpc_context: grpc.ServicerContext,
        cap: Capability,
        links: MeshLinks,
        instance_id: str,
        resources: Mapping[str, Any] | None = None,
    ):
        self.grpc = grpc_context
        self.capability = cap
        self.instance_id = instance_id
        self.request_id = logs.request_id.get()
        self.tenant = logs.tenant.get() or "anonymous"
        self.job_id = header(grpc_context.invocation_metadata(), JOB_HEADER)
        self.stage_milliseconds: dict[str, float] = {}
        self._links = links
        self._inline_budget = INLINE_LIMIT
        self._last_progress = 0.0
        self._job_cancelled = False
        self._reserved = 0
        self._resources = resources or {}

    @property
    def inference(self) -> Inference:
        """The Triton client (raises FailedPrecondition when the service has none)."""
        return self._links.inference()

    def resource(self, name: str) -> Any:
        """The value of a resource the capability declared (see `Resource`).

        Raises:
            KeyError: the capability did not declare a resource of that name.
        """
        if name not in {r.name for r in self.capability.resources}:
            raise KeyError(f"{self.capability.name} declares no resource {name!r}")
        return self._resources[name]

    # Inputs ------------------------------------------------------------------------------
    def assets(self) -> AssetClient:
        """Asset client acting for the caller's tenant."""
        return AssetClient(
            self._links.channel(), internal_headers(self._links.internal_token, self.tenant)
        )

    def read_bytes(self, media_ref, field_name: str) -> bytes:
        """Bytes of an Image, Video, Audio or Mask reference.

        Raises:
            InvalidArgument: nothing set, or the asset does not exist for this tenant.
        """
        if isinstance(media_ref, common_pb2.Mask):
            media_ref, field_name = media_ref.image, f"{field_name}.image"
        kind = media_ref.WhichOneof("source")
        if kind == "inline":
            return media_ref.inline
        if kind == "asset_id":
            try:
                client = self.assets()
                size = client.info(media_ref.asset_id).size_bytes
                if size > MAX_READ_BYTES:
                    raise ResourceExhausted(
                        f"{field_name} is {size} bytes; capabilities read at most "
                        f"{MAX_READ_BYTES} bytes into memory",
                        subject=field_name,
                    )
                return client.download(media_ref.asset_id, timeout=self.remaining())
            except grpc.RpcError as err:
                if err.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                    raise InvalidArgument.field(
                        f"{field_name}.asset_id", f"asset {media_ref.asset_id} not found"
                    ) from None
                raise
        raise InvalidArgument.field(field_name, "one of asset_id, inline is required")

    def read_image(
        self,
        image: common_pb2.Image,
        field_name: str,
        alpha: bool = True,
        cost_pixels: Callable[[int, int], int] = operator.mul,
    ) -> np.ndarray:
        """Decoded uint8 RGB(A) pixels of an Image reference (see `common.media.decode_image`),
        admitted against the memory budget from its header, before it is decoded.

        Args:
            cost_pixels: (width, height) -> the pixels the capability's declared cost is per:
                the input's by default; e.g. the output's for an upscaler.
        """
        data = self.read_bytes(image, field_name)

        def admit(width: int, height: int) -> None:
            self.admit(cost_pixels(width, height), f"{field_name} ({width}x{height})")

        with self.stage("decode"):
            return media.decode_image(data, field_name, alpha=alpha, admit=admit)

    def admit(self, pixels: int, subject: str) -> None:
        """Reserve the memory this capability needs for an input of `pixels` pixels (a video
        frame's, for video) until the call ends.

        Raises:
            ResourceExhausted: it can never fit this instance's budget, or not before the
                deadline (see common.admission).
        """
        cost = self.capability.memory
        if cost is not None:
            self._reserved += self._links.memory.reserve(
                cost.bytes_for(pixels), f"{self.capability.name} {subject}", self.remaining()
            )

    def release(self) -> None:
        """Give back the memory the call reserved (when it ends)."""
        self._links.memory.release(self._reserved)
        self._reserved = 0

    def read_mask(
        self, mask: common_pb2.Mask, field_name: str, shape: tuple[int, int]
    ) -> np.ndarray:
        """Decoded uint8 (H, W) mask that must match `shape`."""
        with self.stage("decode"):
            return media.decode_mask(
                self.read_bytes(mask, field_name), f"{field_name}.image", shape
            )

    # Outputs -----------------------------------------------------------------------------
    def image_output(
        self, pixels: np.ndarray, options: common_pb2.OutputOptions | None = None
    ) -> common_pb2.Image:
        """Encode `pixels` and deliver them inline or as an asset as `options` ask.

        Inline outputs of one call share a 3 MiB budget so a response stays under gRPC's 4 MiB
        default; what does not fit becomes an asset (unless DELIVERY_INLINE was demanded, which
        then fails with RESOURCE_EXHAUSTED).
        """
        options = options or common_pb2.OutputOptions()
        with self.stage("encode"):
            data, media_type = media.encode_image(pixels, options.format, options.quality)
        return self.deliver(data, media_type, options.delivery, common_pb2.Image)

    def mask_output(
        self, mask: np.ndarray, delivery: int = common_pb2.DELIVERY_UNSPECIFIED
    ) -> common_pb2.Mask:
        """A ``bool`` (True: 255) or ``uint8`` ``(H, W)`` mask as a lossless PNG Mask, delivered
        as ``delivery`` asks (see :meth:`image_output`)."""
        pixels = mask.astype(np.uint8) * 255 if mask.dtype == bool else mask
        return common_pb2.Mask(image=self.image_output(pixels, adapters.png(delivery)))

    def deliver(self, data: bytes, media_type: str, delivery: int, kind=common_pb2.Image):
        """Wrap encoded bytes as `kind` (Image, Video or Audio), inline or as an asset."""
        fits = len(data) <= self._inline_budget
        if delivery == common_pb2.DELIVERY_INLINE and not fits:
            raise ResourceExhausted(
                f"output is {len(data)} bytes, more than the inline budget of "
                f"{self._inline_budget}; use DELIVERY_ASSET",
                subject="output.delivery",
            )
        if delivery == common_pb2.DELIVERY_ASSET or not fits:
            with self.stage("store"):
                info = self.assets().upload(data, media_type=media_type, timeout=self.remaining())
            return kind(asset_id=info.asset_id, media_type=media_type)
        self._inline_budget -= len(data)
        return kind(inline=data, media_type=media_type)

    def metadata(self) -> common_pb2.ProductionMetadata:
        """ProductionMetadata for the response, with the stage timings so far."""
        created = Timestamp()
        created.GetCurrentTime()
        return common_pb2.ProductionMetadata(
            request_id=self.request_id,
            capability=self.capability.name,
            version=self.capability.version,
            instance_id=self.instance_id,
            created_time=created,
            stage_milliseconds=self.stage_milliseconds,
        )

    # Other capabilities ------------------------------------------------------------------
    def call(self, capability: str, timeout: float | None = None, **fields):
        """Call another capability through the gateway, for the caller's tenant::

            found = ctx.call("segmentation.DetectText", image=image, recognize=True)

        Args:
            capability: "<family>.<Rpc>", e.g. ``"segmentation.DetectText"``; the request and
                response messages come from its contract.
            timeout: seconds; ``None`` means this call's remaining deadline.
            fields: the request's fields (messages, enum values, scalars, lists).

        Raises:
            KeyError: no contract defines the capability (a programming error).
            ServiceError: the callee's failure, with its status code and a message naming it.
        """
        family, _, rpc = capability.partition(".")
        md = find_service(family_service(family)).methods_by_name[rpc]
        request = message_factory.GetMessageClass(md.input_type)(**fields)
        method = self._links.channel().unary_unary(
            f"/{md.containing_service.full_name}/{rpc}",
            request_serializer=type(request).SerializeToString,
            response_deserializer=message_factory.GetMessageClass(md.output_type).FromString,
        )
        try:
            return method(
                request,
                metadata=internal_headers(self._links.internal_token, self.tenant),
                timeout=timeout if timeout is not None else self.remaining(),
            )
        except grpc.RpcError as err:
            raise ServiceError(f"{capability} failed: {err.details()}", code=err.code()) from None

    # Time, progress, cancellation --------------------------------------------------------
    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time a processing stage; repeated stages add up."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            ms = (time.perf_counter() - t0) * 1000.0
            self.stage_milliseconds[name] = self.stage_milliseconds.get(name, 0.0) + ms

    def remaining(self) -> float | None:
        """Seconds left before the caller's deadline, or None without one."""
        return self.grpc.time_remaining()

    def cancelled(self) -> bool:
        """True when the caller cancelled, the deadline passed, or the job was cancelled."""
        return self._job_cancelled or not self.grpc.is_active()

    def check_cancelled(self) -> None:
        """Raise :class:`Cancelled` when :meth:`cancelled` is true (call between pieces of
        work)."""
        if self.cancelled():
            raise Cancelled()

    def report_progress(self, fraction: float, stage: str = "", message: str = "") -> None:
        """Report progress of a job (at most ~4 times a second; no-op outside jobs)."""
        now = time.monotonic()
        if not self.job_id or (now - self._last_progress < 0.25 and fraction < 1.0):
            return
        self._last_progress = now
        stub = jobs_pb2_grpc.JobServiceStub(self._links.channel())
        try:
            reply = stub.ReportProgress(
                jobs_pb2.ReportProgressRequest(
                    job_id=self.job_id,
                    progress=common_pb2.Progress(fraction=fraction, stage=stage, message=message),
                ),
                metadata=internal_headers(self._links.internal_token, self.tenant),
                timeout=2.0,
            )
            self._job_cancelled = reply.cancelled
        except grpc.RpcError as err:
            log.warning("progress report failed: %s", err.code())


class _FamilyHandler:
    """Builds the method handlers of one gRPC service from its capabilities."""

    def __init__(
        self,
        service: ServiceDescriptor,
        caps: dict[str, Capability],
        links: MeshLinks,
        instance_id: str,
        resources: Mapping[str, Any],
    ):
        self.service = service
        self.caps = caps
        self.links = links
        self.instance_id = instance_id
        self.resources = resources

    def generic_handler(self) -> grpc.GenericRpcHandler:
        handlers = {md.name: self._handler(md) for md in self.service.methods}
        return grpc.method_handlers_generic_handler(self.service.full_name, handlers)

    def _handler(self, md: MethodDescriptor) -> grpc.RpcMethodHandler:
        request_cls = message_factory.GetMessageClass(md.input_type)
        response_cls = message_factory.GetMessageClass(md.output_type)
        family = self.service.name.removesuffix("Service").lower()
        cap = self.caps.get(md.name)
        name = cap.name if cap else f"{family}.{md.name}"

        def check(request) -> None:
            violations = validate(request)
            if violations:
                raise InvalidArgument(f"invalid {md.input_type.name} for {name}", violations)

        def call(request_or_iterator, context):
            if cap is None:
                raise Unimplemented(name)
            ctx = CallContext(context, cap, self.links, self.instance_id, self.resources)
            code = "OK"
            try:
                return cap.function(request_or_iterator, ctx)
            except ServiceError as err:
                code = err.code.name
                raise
            except Exception:
                code = "INTERNAL"
                raise
            finally:
                # Capability RPCs are unary: the call is over here. (A streaming function would
                # return its generator first; none reserves memory.)
                ctx.release()
                CAPABILITY_CALLS.labels(name, ctx.tenant, code).inc()

        def checked(iterator):
            for request in iterator:
                check(request)
                yield request

        if not md.client_streaming and not md.server_streaming:

            def unary(request, context):
                check(request)
                return call(request, context)

            make = grpc.unary_unary_rpc_method_handler
            behavior = unary
        elif not md.client_streaming:

            def unary_stream(request, context):
                check(request)
                yield from call(request, context)

            make = grpc.unary_stream_rpc_method_handler
            behavior = unary_stream
        elif not md.server_streaming:

            def stream_unary(iterator, context):
                return call(checked(iterator), context)

            make = grpc.stream_unary_rpc_method_handler
            behavior = stream_unary
        else:

            def stream_stream(iterator, context):
                yield from call(checked(iterator), context)

            make = grpc.stream_stream_rpc_method_handler
            behavior = stream_stream
        return make(
            behavior,
            request_deserializer=lenient(request_cls.FromString),
            response_serializer=response_cls.SerializeToString,
        )


class Provider:
    """A gRPC server process for capabilities of one or more services.

    Args:
        name: process name for logs and instance ids, e.g. "editing".
        capabilities: what it serves.
        families: extra families whose RPCs it answers (UNIMPLEMENTED until a capability
            exists); the families of `capabilities` are always included.
        max_workers: threads serving calls concurrently.
        resources: set up before serving besides those the capabilities declare (e.g. a
            warm-up every call benefits from).

    Raises:
        ValueError: two different resources share a name.
    """

    def __init__(
        self,
        name: str,
        capabilities: list[Capability],
        families: tuple[str, ...] = (),
        max_workers: int = 8,
        resources: tuple[Resource, ...] = (),
    ):
        self.name = name
        self.capabilities = capabilities
        self.resources: dict[str, Resource] = {}
        for resource in [*resources, *(r for c in capabilities for r in c.resources)]:
            known = self.resources.setdefault(resource.name, resource)
            if known is not resource:
                raise ValueError(f"provider {name}: two different resources named {resource.name}")
        self.values: dict[str, Any] = {}
        self.services = sorted(
            {c.service_name for c in capabilities} | {family_service(f) for f in families}
        )
        self.max_workers = max_workers
        self.instance_id = f"{name}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.server: grpc.Server | None = None
        self.port = 0
        self.metrics_port = 0
        self.health = health.HealthServicer()
        self._stop = threading.Event()
        self._registry: Registry | None = None

    def start(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        metrics_port: int | None = 0,
        links: MeshLinks | None = None,
    ) -> int:
        """Set up the resources, then start serving (non-blocking); returns the gRPC port.
        `metrics_port=None` disables the metrics endpoint."""
        links = links or MeshLinks()
        self.set_up()
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix=self.name),
            interceptors=[ServerInterceptor(links.internal_token)],
            options=CHANNEL_OPTIONS,
        )
        names = [health.SERVICE_NAME, reflection.SERVICE_NAME]
        for service_name in self.services:
            desc = find_service(service_name)
            caps = {c.rpc: c for c in self.capabilities if c.service_name == service_name}
            handler = _FamilyHandler(desc, caps, links, self.instance_id, self.values)
            server.add_generic_rpc_handlers((handler.generic_handler(),))
            names.append(service_name)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        reflection.enable_server_reflection(names, server)
        self.port = server.add_insecure_port(f"{host}:{port}")
        server.start()
        self.server = server
        self.address = f"{advertised_host(host)}:{self.port}"
        for service_name in ["", *self.services]:
            self.health.set(service_name, health_pb2.HealthCheckResponse.SERVING)
        if metrics_port is not None:
            self.metrics_port = serve_metrics(metrics_port, host)
        log.info(
            "serving",
            extra={
                "address": self.address,
                "services": self.services,
                "metrics": self.metrics_port,
            },
        )
        return self.port

    def set_up(self) -> None:
        """Set up every resource not yet set up, in declaration order (timed in the log)."""
        for name, resource in self.resources.items():
            if name not in self.values:
                t0 = time.perf_counter()
                self.values[name] = resource.setup()
                log.info(
                    "resource ready", extra={"resource": name, "seconds": time.perf_counter() - t0}
                )

    def tear_down(self) -> None:
        """Tear the resources down in reverse order; a failure is logged, not raised."""
        for name in reversed(list(self.values)):
            value, teardown = self.values.pop(name), self.resources[name].teardown
            if teardown is not None:
                try:
                    teardown(value)
                except Exception:
                    log.exception("tearing down resource %s failed", name)

    def instance(self) -> registry_pb2.Instance:
        """This process as the registry sees it."""
        host = self.address.rsplit(":", 1)[0]
        return registry_pb2.Instance(
            instance_id=self.instance_id,
            services=self.services,
            address=self.address,
            metrics_address=f"{host}:{self.metrics_port}" if self.metrics_port else "",
            capabilities=[c.declaration() for c in self.capabilities],
            meta={"process": self.name, "pid": str(os.getpid())},
        )

    def register(self, registry: Registry, ttl_seconds: int = 10) -> None:
        """Register now and keep the lease alive from a background thread."""
        self._registry = registry
        ttl = self._register_once(ttl_seconds)
        thread = threading.Thread(
            target=self._heartbeat_loop, args=(ttl_seconds, ttl), daemon=True, name="heartbeat"
        )
        thread.start()

    def _register_once(self, ttl_seconds: int) -> int:
        assert self._registry is not None
        return self._registry.register(self.instance(), ttl_seconds)

    def _heartbeat_loop(self, ttl_seconds: int, ttl: int) -> None:
        assert self._registry is not None
        while not self._stop.wait(max(ttl / 3.0, 0.2)):
            try:
                self._registry.heartbeat(self.instance_id)
            except NotFound:
                if self._stop.is_set():
                    return  # stop() deregistered us meanwhile: stay gone
                log.warning("registry lost this instance; registering again")
                self._try(lambda: self._register_once(ttl_seconds))
            except Exception as exc:
                # Registering again would reset a Consul check to critical: just retry later.
                log.warning("heartbeat failed: %s", exc)

    @staticmethod
    def _try(action: Callable[[], object]) -> None:
        try:
            action()
        except Exception as exc:
            log.warning("registry unreachable: %s", exc)

    def stop(self, grace: float = 10.0) -> None:
        """Deregister, report NOT_SERVING, then let in-flight calls finish for up to `grace` s."""
        if self._stop.is_set():
            return
        self._stop.set()
        self.health.enter_graceful_shutdown()
        if self._registry is not None:
            self._try(lambda: self._registry.deregister(self.instance_id))
            self._registry.close()
        if self.server is not None:
            self.server.stop(grace).wait()
        self.tear_down()
        log.info("stopped")

    def run(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        metrics_port: int | None = 0,
        registry: Registry | None = None,
        links: MeshLinks | None = None,
        grace: float = 10.0,
    ) -> None:
        """Start, register, and block until SIGTERM or SIGINT, then drain and stop."""
        self.start(host, port, metrics_port, links)
        if registry is not None:
            self.register(registry)
        done = threading.Event()

        def on_signal(signum, _frame):
            log.info("signal %s: draining", signum)
            done.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        done.wait()
        self.stop(grace)


def main(provider: Provider, argv: list[str] | None = None) -> None:
    """Command line of a provider process: ``python -m services.<family> --port ...``.

    The internal token comes from the VIPRO_INTERNAL_TOKEN environment variable.
    """
    import argparse

    parser = argparse.ArgumentParser(prog=f"services.{provider.name}")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    parser.add_argument("--port", type=int, default=0, help="gRPC port (0 picks a free one)")
    parser.add_argument("--metrics-port", type=int, default=0, help="Prometheus port (0: free)")
    parser.add_argument(
        "--registry", default="", help="embedded://host:port or consul://host:port; empty: none"
    )
    parser.add_argument("--gateway", default="", help="gateway host:port for assets and jobs")
    parser.add_argument(
        "--triton", default=os.environ.get("VIPRO_TRITON", ""), help="Triton gRPC host:port"
    )
    parser.add_argument(
        "--triton-shm-bytes",
        type=int,
        default=0,
        help="send tensors of at least this size through shared memory (only when Triton runs "
        "on this host; 0 disables)",
    )
    parser.add_argument(
        "--memory-budget",
        type=parse_bytes,
        default=None,
        help="memory the calls of this process may hold at once, e.g. 6G (default: "
        "$VIPRO_MEMORY_BUDGET, else a quarter of the machine's or cgroup's memory)",
    )
    parser.add_argument("--grace", type=float, default=10.0, help="drain time on SIGTERM, s")
    parser.add_argument("--log-level", default=os.environ.get("VIPRO_LOG_LEVEL", "INFO"))
    args = parser.parse_args(argv)
    logs.configure(provider.name, args.log_level)
    token = os.environ.get("VIPRO_INTERNAL_TOKEN", "")
    registry = connect(args.registry, token) if args.registry else None
    gateway = args.gateway or (
        args.registry.partition("://")[2] if args.registry.startswith("embedded://") else ""
    )
    provider.run(
        args.host,
        args.port,
        args.metrics_port,
        registry,
        MeshLinks(
            gateway,
            token,
            args.triton,
            args.triton_shm_bytes,
            MemoryBudget(args.memory_budget or default_budget()),
        ),
        args.grace,
    )
