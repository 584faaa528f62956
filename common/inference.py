"""Calling models on Triton from a service: deadlines, retries, clear errors, shared memory.

    inference = Inference("127.0.0.1:8001")
    out = inference.infer("selfie_segmentation", {"image": batch}, ["mask"], timeout=5)

Errors reach the capability's caller as statuses, never as tritonclient exceptions:
UNAVAILABLE (with RetryInfo) when Triton cannot be reached — the client reconnects by itself, so
calls work again as soon as Triton is back, without restarting the service; FAILED_PRECONDITION
naming the model when Triton does not have it ready; DEADLINE_EXCEEDED when the call's time ran
out. On the same host, tensors larger than `shm_threshold` bytes travel through POSIX shared
memory instead of the gRPC stream.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import uuid
from collections.abc import Iterable

import grpc
import numpy as np
import tritonclient.grpc as triton_grpc
from tritonclient.utils import (
    InferenceServerException,
    np_to_triton_dtype,
    shared_memory,
    triton_to_np_dtype,
)

from common.errors import FailedPrecondition, ResourceExhausted, ServiceError, Unavailable
from common.retry import Backoff, retry_call

# Reconnect quickly once Triton is back (gRPC's default backoff grows to 120 s), and allow the
# large messages images make.
_CHANNEL_ARGS = [
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2000),
    ("grpc.max_receive_message_length", 256 << 20),
    ("grpc.max_send_message_length", 256 << 20),
]
_CODES = {str(code): code for code in grpc.StatusCode}
"""tritonclient reports an RPC's status as the text of its code: "StatusCode.UNAVAILABLE"."""


class _ShmRegion:
    """A POSIX shared-memory region registered with Triton, grown on demand."""

    def __init__(self, client: triton_grpc.InferenceServerClient, prefix: str):
        self._client = client
        self.name = f"{prefix}-{uuid.uuid4().hex[:10]}"
        self.size = 0
        self.handle = None

    def ensure(self, size: int) -> None:
        if size <= self.size:
            return
        self.release()
        self.size = max(size, 1 << 20)
        self.handle = shared_memory.create_shared_memory_region(
            self.name, f"/{self.name}", self.size
        )
        self._client.register_system_shared_memory(self.name, f"/{self.name}", self.size)

    def release(self, registered: bool = True) -> None:
        """Destroy the region; `registered` False when Triton restarted and forgot it."""
        if self.handle is None:
            return
        if registered:
            with contextlib.suppress(InferenceServerException):
                self._client.unregister_system_shared_memory(self.name)
        shared_memory.destroy_shared_memory_region(self.handle)
        self.handle = None
        self.size = 0


class Inference:
    """A Triton client for one service.

    Args:
        url: Triton's gRPC host:port.
        retries: extra attempts when Triton answers UNAVAILABLE, after jittered pauses of at
            most 0.2, 0.4... s (`common.retry.Backoff`), always within the call's deadline.
        shm_threshold: tensors of at least this many bytes go through system shared memory
            (same host only); 0 disables shared memory.
    """

    def __init__(self, url: str, retries: int = 2, shm_threshold: int = 0):
        self.url = url
        self._backoff = Backoff(first=0.2, cap=2.0, attempts=retries + 1)
        self.shm_threshold = shm_threshold
        self._client = triton_grpc.InferenceServerClient(url, channel_args=_CHANNEL_ARGS)
        self._local = threading.local()
        self._ready: dict[tuple[str, str], float] = {}

    # Models ------------------------------------------------------------------------------
    def require(self, model: str, version: str = "") -> None:
        """Check Triton serves `model` (cached for 5 s).

        Raises:
            Unavailable: Triton unreachable.
            FailedPrecondition: the model (version) is not loaded and ready.
        """
        key = (model, version)
        if time.monotonic() - self._ready.get(key, -1e9) < 5.0:
            return
        try:
            ready = self._client.is_model_ready(model, version, client_timeout=2.0)
        except InferenceServerException as exc:
            raise self._translate(exc, model) from None
        if not ready:
            raise _missing(model, version)
        self._ready[key] = time.monotonic()

    def models(self) -> list[dict]:
        """The repository index: name, version, state, reason of every model."""
        try:
            index = self._client.get_model_repository_index(as_json=True, client_timeout=5.0)
        except InferenceServerException as exc:
            raise self._translate(exc, "") from None
        return [
            {
                "name": m.get("name", ""),
                "version": m.get("version", ""),
                "state": m.get("state", "UNAVAILABLE") or "UNAVAILABLE",
                "reason": m.get("reason", ""),
            }
            for m in index.get("models", [])
        ]

    def load(self, model: str) -> None:
        """Load (or reload) a model through the repository API (explicit model control)."""
        try:
            self._client.load_model(model, client_timeout=120.0)
        except InferenceServerException as exc:
            raise self._translate(exc, model) from None
        self._ready.pop((model, ""), None)

    def unload(self, model: str) -> None:
        """Unload a model through the repository API."""
        try:
            self._client.unload_model(model, client_timeout=30.0)
        except InferenceServerException as exc:
            raise self._translate(exc, model) from None
        self._ready = {k: v for k, v in self._ready.items() if k[0] != model}

    # Inference ---------------------------------------------------------------------------
    def infer(
        self,
        model: str,
        inputs: dict[str, np.ndarray],
        outputs: Iterable[str],
        timeout: float | None = 30.0,
        version: str = "",
        output_bytes: dict[str, int] | None = None,
    ) -> dict[str, np.ndarray]:
        """Run `model` on `inputs`; returns the named outputs as numpy arrays.

        Args:
            model: model name in the repository.
            inputs: tensor name -> array (dtype as the model's config says).
            outputs: output names wanted.
            timeout: seconds for the whole call (retries included); None for no deadline.
            version: model version; "" for the server's choice.
            output_bytes: size in bytes of outputs that may come back through shared memory
                (known when the output shape is); others travel inline.

        Raises:
            Unavailable, FailedPrecondition, ServiceError(DEADLINE_EXCEEDED or INTERNAL).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        names = list(outputs)

        def attempt() -> dict[str, np.ndarray]:
            remaining = None if deadline is None else max(deadline - time.monotonic(), 0.001)
            try:
                return self._infer_once(model, inputs, names, remaining, version, output_bytes)
            except InferenceServerException as exc:
                raise self._translate(exc, model) from None

        return retry_call(attempt, self._backoff, deadline)

    def _infer_once(self, model, inputs, names, timeout, version, output_bytes):
        request_inputs = []
        shm_in = None
        large = {k: v for k, v in inputs.items() if self._use_shm(v.nbytes)}
        if large:
            shm_in = self._region("in")
            shm_in.ensure(sum(a.nbytes for a in large.values()))
            shared_memory.set_shared_memory_region(shm_in.handle, list(large.values()))
        offset = 0
        for name, array in inputs.items():
            item = triton_grpc.InferInput(name, list(array.shape), np_to_triton_dtype(array.dtype))
            if name in large:
                item.set_shared_memory(shm_in.name, array.nbytes, offset)
                offset += array.nbytes
            else:
                item.set_data_from_numpy(np.ascontiguousarray(array))
            request_inputs.append(item)
        wanted, shm_out, placed = [], None, {}
        big_out = {k: n for k, n in (output_bytes or {}).items() if k in names and self._use_shm(n)}
        if big_out:
            shm_out = self._region("out")
            shm_out.ensure(sum(big_out.values()))
        offset = 0
        for name in names:
            requested = triton_grpc.InferRequestedOutput(name)
            if name in big_out:
                requested.set_shared_memory(shm_out.name, big_out[name], offset)
                placed[name] = offset
                offset += big_out[name]
            wanted.append(requested)
        result = self._client.infer(
            model, request_inputs, model_version=version, outputs=wanted, client_timeout=timeout
        )
        out = {}
        for name in names:
            if name in placed:
                meta = result.get_output(name)
                out[name] = shared_memory.get_contents_as_numpy(
                    shm_out.handle,
                    triton_to_np_dtype(meta.datatype),
                    list(meta.shape),
                    placed[name],
                ).copy()
            else:
                out[name] = result.as_numpy(name)
        return out

    def _use_shm(self, nbytes: int) -> bool:
        return bool(self.shm_threshold) and nbytes >= self.shm_threshold

    def _region(self, kind: str) -> _ShmRegion:
        regions = self._local.__dict__.setdefault("regions", {})
        if kind not in regions:
            # The pid in the name lets the mesh remove the regions of a service that died.
            regions[kind] = _ShmRegion(self._client, f"vipro-{os.getpid()}-{kind}")
        return regions[kind]

    def _translate(self, exc: InferenceServerException, model: str) -> ServiceError:
        code = _status(exc)
        text = exc.message() or str(exc)
        if code == grpc.StatusCode.UNAVAILABLE:
            # Registered shared memory does not survive a Triton restart.
            for region in self._local.__dict__.get("regions", {}).values():
                region.release(registered=False)
            return Unavailable(f"Triton at {self.url} is unavailable: {text}")
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            return ServiceError(
                f"model {model} did not answer in time", code=grpc.StatusCode.DEADLINE_EXCEEDED
            )
        if code == grpc.StatusCode.NOT_FOUND:  # "Request for unknown model"
            self._ready = {k: v for k, v in self._ready.items() if k[0] != model}
            return _missing(model, "")
        if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
            return ResourceExhausted(f"model {model}: {text}", subject=f"model:{model}")
        return ServiceError(f"model {model} failed: {text}", code=grpc.StatusCode.INTERNAL)

    def close(self) -> None:
        """Release shared memory and the connection."""
        for region in self._local.__dict__.get("regions", {}).values():
            region.release()
        self._client.close()


def _status(exc: InferenceServerException) -> grpc.StatusCode | None:
    """The gRPC code of a tritonclient error; None for the client's own checks (no status)."""
    return _CODES.get(exc.status() or "")


def _missing(model: str, version: str) -> FailedPrecondition:
    label = f"{model} version {version}" if version else model
    return FailedPrecondition(
        f"model {label} is not loaded on Triton (load it with `vipro models load {model}`)",
        [("MODEL", model)],
    )
