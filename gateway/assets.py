"""The asset store: content-addressed files per tenant, and AssetService over it.

Layout under the store's root::

    index.sqlite                      (tenant, asset_id) -> size, media type, name, time
    <tenant hash>/<ab>/<sha256 hex>   the bytes

Each tenant has its own directory (named by a hash of the tenant, so no tenant name can escape
it), so the same bytes uploaded by two tenants are two files: deleting one never affects the
other, and one tenant cannot learn that another holds some content.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import asdict
from pathlib import Path

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import delete, func, select

from common import logs
from common.client import CHUNK_BYTES
from common.errors import DataLoss, InvalidArgument, NotFound, ResourceExhausted, ServiceError
from gateway.config import AssetLimits
from gateway.metrics import ASSET_BYTES
from gateway.paging import next_token, page_offset
from gateway.stores import assets as schema
from gateway.stores.assets import AssetRow
from gateway.stores.database import Database, newest_first
from vipro.v1 import assets_pb2, assets_pb2_grpc

_HEX = frozenset("0123456789abcdef")
UPLOAD_IDLE_SECONDS = 60.0
"""An upload that sends nothing for this long is abandoned (its temporary file removed)."""


def parse_asset_id(asset_id: str, field: str = "asset_id") -> str:
    """The hex digest of "sha256:<64 hex>".

    Raises:
        InvalidArgument: malformed id.
    """
    prefix, _, digest = asset_id.partition(":")
    if prefix != "sha256" or len(digest) != 64 or not set(digest) <= _HEX:
        raise InvalidArgument.field(field, f"{asset_id!r} is not of the form sha256:<64 hex>")
    return digest


class AssetStore:
    """Content-addressed per-tenant storage on a filesystem.

    Its methods block (database and files): async code calls them through asyncio.to_thread.

    Args:
        root: directory of the store.
        limits: size limits per asset and per tenant.
        index: the index database, a SQLite file or a SQLAlchemy URL (root/index.sqlite when
            None).
    """

    def __init__(
        self, root: Path, limits: AssetLimits | None = None, index: Path | str | None = None
    ):
        self.root = root
        self.limits = limits or AssetLimits()
        root.mkdir(parents=True, exist_ok=True)
        self._db = Database(index or root / "index.sqlite", schema.metadata)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._db.close()

    def _dir(self, tenant: str) -> Path:
        return self.root / hashlib.sha256(tenant.encode()).hexdigest()[:32]

    def path(self, tenant: str, asset_id: str) -> Path:
        """File of an asset (it may not exist)."""
        digest = parse_asset_id(asset_id)
        return self._dir(tenant) / digest[:2] / digest

    def used_bytes(self, tenant: str) -> int:
        """Bytes the tenant stores."""
        total = select(func.coalesce(func.sum(schema.assets.c.size), 0))
        return int(self._db.scalar(total.where(schema.assets.c.tenant == tenant)))

    def _row(self, tenant: str, asset_id: str) -> AssetRow | None:
        return self._db.first(
            select(schema.assets).where(
                schema.assets.c.tenant == tenant, schema.assets.c.asset_id == asset_id
            ),
            AssetRow,
        )

    def info(self, tenant: str, asset_id: str) -> assets_pb2.AssetInfo:
        """Info of an asset.

        Raises:
            NotFound: the tenant has no such asset.
        """
        parse_asset_id(asset_id)
        row = self._row(tenant, asset_id)
        if row is None or not self.path(tenant, asset_id).exists():
            raise NotFound("asset", asset_id)
        return _info(row)

    async def put(
        self, tenant: str, header: assets_pb2.AssetHeader, chunks: AsyncIterator[bytes]
    ) -> tuple[assets_pb2.AssetInfo, bool]:
        """Store the bytes of `chunks` (the upload stream); returns (info, created).

        Raises:
            ResourceExhausted: over the per-asset or per-tenant limit (checked against the
                header's size before reading, and while reading).
            DataLoss: size or sha256 differ from the header's.
        """
        limit = await asyncio.to_thread(self._check_room, tenant, header.size_bytes)
        directory = self._dir(tenant)
        directory.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=".upload-")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > limit:
                        raise self._too_big(tenant, size, limit)
                    # Hashing and writing a MiB takes milliseconds: keep it off the event loop.
                    await asyncio.to_thread(_absorb, digest, out, chunk)
            asset_id = "sha256:" + digest.hexdigest()
            return await asyncio.to_thread(self._commit, tenant, header, tmp, size, asset_id)
        finally:
            tmp.unlink(missing_ok=True)

    def _check_room(self, tenant: str, announced: int) -> int:
        room = self.limits.max_tenant_bytes - self.used_bytes(tenant)
        limit = min(self.limits.max_asset_bytes, room)
        if announced > limit:
            raise self._too_big(tenant, announced, limit)
        return limit

    def _too_big(self, tenant: str, size: int, limit: int) -> ResourceExhausted:
        if limit < self.limits.max_asset_bytes:
            return ResourceExhausted(
                f"tenant {tenant} has {max(limit, 0)} bytes of storage left, asset needs {size}",
                subject=f"tenant:{tenant}",
                description="asset storage bytes",
            )
        return ResourceExhausted(
            f"asset of {size}+ bytes exceeds the {self.limits.max_asset_bytes}-byte limit",
            subject="asset",
            description="bytes per asset",
        )

    def _commit(
        self, tenant: str, header: assets_pb2.AssetHeader, tmp: Path, size: int, asset_id: str
    ) -> tuple[assets_pb2.AssetInfo, bool]:
        if header.size_bytes and header.size_bytes != size:
            raise DataLoss(f"upload ended after {size} bytes, header announced {header.size_bytes}")
        if header.asset_id and header.asset_id != asset_id:
            raise DataLoss(f"upload hashes to {asset_id}, header announced {header.asset_id}")
        target = self.path(tenant, asset_id)
        with self._lock:
            existing = self._row(tenant, asset_id)
            if existing is not None and target.exists():
                return _info(existing), False
            # Checked again under the lock: concurrent uploads each saw room at their start.
            used = self.used_bytes(tenant)
            if used + size > self.limits.max_tenant_bytes:
                raise self._too_big(tenant, size, self.limits.max_tenant_bytes - used)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, target)
            row = AssetRow(tenant, asset_id, size, header.media_type, header.filename, time.time())
            self._db.upsert(schema.assets, asdict(row))
        return _info(row), True

    def read(self, tenant: str, asset_id: str, offset: int = 0, length: int = 0) -> Iterator[bytes]:
        """The asset's bytes (a range of them) in chunks.

        Raises:
            NotFound: the tenant has no such asset.
        """
        info = self.info(tenant, asset_id)
        end = info.size_bytes if not length else min(info.size_bytes, offset + length)
        with open(self.path(tenant, asset_id), "rb") as f:
            f.seek(offset)
            position = offset
            while position < end:
                chunk = f.read(min(CHUNK_BYTES, end - position))
                if not chunk:
                    break
                position += len(chunk)
                yield chunk

    def list(self, tenant: str, limit: int, offset: int) -> list[assets_pb2.AssetInfo]:
        """A page of the tenant's assets, newest first."""
        table = schema.assets
        page = newest_first(table, tenant, table.c.asset_id, limit, offset)
        return [_info(r) for r in self._db.all(page, AssetRow)]

    def delete(self, tenant: str, asset_id: str) -> bool:
        """Remove an asset; False when the tenant had none."""
        path = self.path(tenant, asset_id)
        with self._lock:
            removed = self._db.execute(
                delete(schema.assets).where(
                    schema.assets.c.tenant == tenant, schema.assets.c.asset_id == asset_id
                )
            )
            path.unlink(missing_ok=True)
        return removed > 0


def _absorb(digest, out, chunk: bytes) -> None:
    digest.update(chunk)
    out.write(chunk)


def _info(row: AssetRow) -> assets_pb2.AssetInfo:
    stamp = Timestamp()
    stamp.FromNanoseconds(int(row.created * 1e9))
    return assets_pb2.AssetInfo(
        asset_id=row.asset_id,
        size_bytes=row.size,
        media_type=row.media_type,
        filename=row.filename,
        created_time=stamp,
    )


class AssetServicer(assets_pb2_grpc.AssetServiceServicer):
    """vipro.v1.AssetService over an AssetStore (asyncio server; the tenant comes from the
    interceptor's context)."""

    def __init__(self, store: AssetStore):
        self.store = store

    async def Upload(self, request_iterator, context):
        tenant = logs.tenant.get()
        first = await anext(aiter(request_iterator), None)
        if first is None or first.WhichOneof("part") != "header":
            raise InvalidArgument.field("header", "the first message of an upload must be a header")

        async def chunks():
            stream = aiter(request_iterator)
            while True:
                try:
                    message = await asyncio.wait_for(anext(stream), UPLOAD_IDLE_SECONDS)
                except StopAsyncIteration:
                    return
                except TimeoutError:
                    raise ServiceError(
                        f"no chunk for {UPLOAD_IDLE_SECONDS:.0f} s; upload abandoned",
                        code=grpc.StatusCode.DEADLINE_EXCEEDED,
                    ) from None
                if message.WhichOneof("part") != "chunk":
                    raise InvalidArgument.field("chunk", "only chunks may follow the header")
                yield message.chunk

        info, created = await self.store.put(tenant, first.header, chunks())
        ASSET_BYTES.labels(tenant, "in").inc(info.size_bytes)
        return assets_pb2.UploadResponse(asset=info, created=created)

    async def Download(self, request, context):
        tenant = logs.tenant.get()
        info = await asyncio.to_thread(self.store.info, tenant, request.asset_id)
        if request.offset > info.size_bytes:
            raise InvalidArgument.field("offset", f"is past the end ({info.size_bytes} bytes)")
        yield assets_pb2.DownloadResponse(info=info)
        sent = 0
        chunks = self.store.read(tenant, request.asset_id, request.offset, request.length)
        while (chunk := await asyncio.to_thread(next, chunks, None)) is not None:
            sent += len(chunk)
            yield assets_pb2.DownloadResponse(chunk=chunk)
        ASSET_BYTES.labels(tenant, "out").inc(sent)

    async def GetAsset(self, request, context):
        info = await asyncio.to_thread(self.store.info, logs.tenant.get(), request.asset_id)
        return assets_pb2.GetAssetResponse(asset=info)

    async def ListAssets(self, request, context):
        size = request.page_size or 100
        offset = page_offset(request.page_token)
        items = await asyncio.to_thread(self.store.list, logs.tenant.get(), size + 1, offset)
        return assets_pb2.ListAssetsResponse(
            assets=items[:size], next_page_token=next_token(offset, size, len(items))
        )

    async def DeleteAsset(self, request, context):
        parse_asset_id(request.asset_id)
        deleted = await asyncio.to_thread(self.store.delete, logs.tenant.get(), request.asset_id)
        return assets_pb2.DeleteAssetResponse(deleted=deleted)
