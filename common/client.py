"""Client helpers: a channel that carries credentials, and asset upload/download.

Example::

    from common.client import connect, AssetClient
    from vipro.v1 import editing_pb2, editing_pb2_grpc

    channel = connect("localhost:50051", api_key="demo-key")
    stub = editing_pb2_grpc.EditingServiceStub(channel)
    reply = stub.ConvertImage(editing_pb2.ConvertImageRequest(...), timeout=30)
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from pathlib import Path

import grpc

from common.internal import API_KEY_HEADER, INTERNAL_TOKEN_HEADER, TENANT_HEADER
from vipro.v1 import assets_pb2, assets_pb2_grpc

CHUNK_BYTES = 1 << 20
MAX_MESSAGE_BYTES = 64 << 20
"""Largest message the mesh's channels and servers accept (requests carry up to a few inline
images of 3 MiB each)."""

CHANNEL_OPTIONS = (
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
)


class _Headers(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """Adds fixed headers to every call."""

    def __init__(self, headers: tuple[tuple[str, str], ...]):
        self._headers = headers

    def _details(self, details):
        return _Details(
            details.method,
            details.timeout,
            tuple(details.metadata or ()) + self._headers,
            details.credentials,
            getattr(details, "wait_for_ready", None),
            getattr(details, "compression", None),
        )

    def intercept_unary_unary(self, continuation, details, request):
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation, details, request):
        return continuation(self._details(details), request)

    def intercept_stream_unary(self, continuation, details, request_iterator):
        return continuation(self._details(details), request_iterator)

    def intercept_stream_stream(self, continuation, details, request_iterator):
        return continuation(self._details(details), request_iterator)


class _Details(grpc.ClientCallDetails):
    def __init__(self, method, timeout, metadata, credentials, wait_for_ready, compression):
        self.method = method
        self.timeout = timeout
        self.metadata = metadata
        self.credentials = credentials
        self.wait_for_ready = wait_for_ready
        self.compression = compression


def connect(
    address: str, api_key: str = "", headers: Iterable[tuple[str, str]] = ()
) -> grpc.Channel:
    """An insecure channel to `address` that sends `x-api-key` (and `headers`) on every call."""
    extra = tuple(headers) + (((API_KEY_HEADER, api_key),) if api_key else ())
    channel = grpc.insecure_channel(address, options=CHANNEL_OPTIONS)
    return grpc.intercept_channel(channel, _Headers(extra)) if extra else channel


def internal_headers(token: str, tenant: str) -> tuple[tuple[str, str], ...]:
    """Headers of a mesh-internal call made on behalf of `tenant`."""
    return ((INTERNAL_TOKEN_HEADER, token), (TENANT_HEADER, tenant))


def sha256_id(data: bytes) -> str:
    """Asset id of `data`: "sha256:<hex>"."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


class AssetClient:
    """Uploads and downloads assets through AssetService."""

    def __init__(self, channel: grpc.Channel, metadata: tuple[tuple[str, str], ...] = ()):
        self._stub = assets_pb2_grpc.AssetServiceStub(channel)
        self._metadata = metadata

    def upload(
        self,
        data: bytes | Path | Iterable[bytes],
        media_type: str = "",
        filename: str = "",
        timeout: float | None = 600,
    ) -> assets_pb2.AssetInfo:
        """Store `data` (bytes, a file path, or an iterable of chunks); returns its info."""
        size = 0
        if isinstance(data, bytes):
            size = len(data)
            chunks: Iterable[bytes] = (
                data[i : i + CHUNK_BYTES] for i in range(0, len(data), CHUNK_BYTES)
            )
        elif isinstance(data, Path):
            size = data.stat().st_size
            filename = filename or data.name
            chunks = _file_chunks(data)
        else:
            chunks = data
        header = assets_pb2.AssetHeader(media_type=media_type, filename=filename, size_bytes=size)

        def requests() -> Iterator[assets_pb2.UploadRequest]:
            yield assets_pb2.UploadRequest(header=header)
            for chunk in chunks:
                yield assets_pb2.UploadRequest(chunk=chunk)

        reply = self._stub.Upload(requests(), metadata=self._metadata, timeout=timeout)
        return reply.asset

    def download(self, asset_id: str, timeout: float | None = 600) -> bytes:
        """The whole asset in memory."""
        return b"".join(self.iter_download(asset_id, timeout))

    def download_to(self, asset_id: str, path: Path, timeout: float | None = 600) -> Path:
        """Write the asset to `path` without holding it in memory."""
        with open(path, "wb") as out:
            for chunk in self.iter_download(asset_id, timeout):
                out.write(chunk)
        return path

    def iter_download(self, asset_id: str, timeout: float | None = 600) -> Iterator[bytes]:
        """The asset's bytes chunk by chunk."""
        stream = self._stub.Download(
            assets_pb2.DownloadRequest(asset_id=asset_id), metadata=self._metadata, timeout=timeout
        )
        for part in stream:
            if part.WhichOneof("part") == "chunk":
                yield part.chunk

    def info(self, asset_id: str) -> assets_pb2.AssetInfo:
        """Asset metadata."""
        return self._stub.GetAsset(
            assets_pb2.GetAssetRequest(asset_id=asset_id), metadata=self._metadata
        ).asset


def _file_chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            yield chunk
