"""The embedded registry: instances with TTL leases, kept in memory and persisted to SQLite.

State survives a gateway restart: instances read back from SQLite get a fresh lease, so they keep
receiving traffic if they are alive and heartbeat in time, and drop out if they are not.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import delete, select

from common.errors import NotFound, ServiceError, abort_async
from gateway.stores import registry as schema
from gateway.stores.database import Database
from gateway.stores.registry import InstanceRow
from vipro.v1 import registry_pb2, registry_pb2_grpc


@dataclass
class _Lease:
    instance: registry_pb2.Instance
    ttl: float
    last_heartbeat: float  # wall clock, seconds

    def alive(self, now: float) -> bool:
        return now - self.last_heartbeat <= self.ttl


class RegistryStore:
    """In-process `common.registry.Registry` with SQLite persistence.

    register, deregister and purge write to the database (they block); the rest is in memory.

    Args:
        location: a SQLite file or a SQLAlchemy URL.
        default_ttl: lease length when a registration asks for 0, seconds.
        clock: wall-clock source (tests pass a fake).
    """

    def __init__(self, location: Path | str, default_ttl: int = 10, clock=time.time):
        self._db = Database(location, schema.metadata)
        self._default_ttl = default_ttl
        self._clock = clock
        self._lock = threading.Lock()
        # Orders database writes as the memory changes they follow, without holding `_lock`
        # (which the event loop takes to route) during a write.
        self._write_lock = threading.Lock()
        self._version = 0
        self._alive_ids: frozenset[str] = frozenset()
        now = clock()
        self._leases: dict[str, _Lease] = {
            row.id: _Lease(row.message(), row.ttl, now)
            for row in self._db.all(select(schema.instances), InstanceRow)
        }

    # Registry interface ----------------------------------------------------------------
    def register(self, instance: registry_pb2.Instance, ttl_seconds: int = 0) -> int:
        ttl = ttl_seconds or self._default_ttl
        stored = registry_pb2.Instance()
        stored.CopyFrom(instance)
        stored.ClearField("healthy")
        stored.ClearField("last_heartbeat_time")
        row = InstanceRow(instance.instance_id, ttl, stored.SerializeToString())
        with self._write_lock:
            with self._lock:
                self._leases[instance.instance_id] = _Lease(stored, ttl, self._clock())
                self._version += 1
            self._db.upsert(schema.instances, asdict(row))
        return ttl

    def heartbeat(self, instance_id: str) -> None:
        with self._lock:
            lease = self._leases.get(instance_id)
            if lease is None:
                raise NotFound("instance", instance_id)
            lease.last_heartbeat = self._clock()

    def deregister(self, instance_id: str) -> bool:
        with self._write_lock:
            with self._lock:
                removed = self._leases.pop(instance_id, None) is not None
                if removed:
                    self._version += 1
            self._db.execute(delete(schema.instances).where(schema.instances.c.id == instance_id))
        return removed

    def instances(self, service: str = "") -> list[registry_pb2.Instance]:
        now = self._clock()
        out = []
        with self._lock:
            leases = list(self._leases.values())
        for lease in leases:
            if service and service not in lease.instance.services:
                continue
            inst = registry_pb2.Instance()
            inst.CopyFrom(lease.instance)
            inst.healthy = lease.alive(now)
            stamp = Timestamp()
            stamp.FromNanoseconds(int(lease.last_heartbeat * 1e9))
            inst.last_heartbeat_time.CopyFrom(stamp)
            out.append(inst)
        return sorted(out, key=lambda i: i.instance_id)

    def close(self) -> None:
        self._db.close()

    # Gateway view ----------------------------------------------------------------------
    def version(self) -> int:
        """A number that changes whenever the instance set or anyone's health changes."""
        now = self._clock()
        with self._lock:
            alive = frozenset(i for i, lease in self._leases.items() if lease.alive(now))
            if alive != self._alive_ids:
                self._alive_ids = alive
                self._version += 1
            return self._version

    def purge(self, older_than_seconds: float) -> list[str]:
        """Forget instances whose lease lapsed more than `older_than_seconds` ago."""
        now = self._clock()
        with self._lock:
            stale = [
                i
                for i, lease in self._leases.items()
                if now - lease.last_heartbeat > lease.ttl + older_than_seconds
            ]
        for instance_id in stale:
            self.deregister(instance_id)
        return stale


class RegistryServicer(registry_pb2_grpc.RegistryServiceServicer):
    """vipro.v1.RegistryService over a RegistryStore (asyncio server)."""

    def __init__(self, store: RegistryStore):
        self.store = store

    async def Register(self, request, context):
        ttl = await asyncio.to_thread(self.store.register, request.instance, request.ttl_seconds)
        return registry_pb2.RegisterResponse(ttl_seconds=int(ttl))

    async def Heartbeat(self, request, context):
        try:
            self.store.heartbeat(request.instance_id)
        except ServiceError as err:
            await abort_async(context, err)
        return registry_pb2.HeartbeatResponse()

    async def Deregister(self, request, context):
        removed = await asyncio.to_thread(self.store.deregister, request.instance_id)
        return registry_pb2.DeregisterResponse(removed=removed)

    async def ListInstances(self, request, context):
        return registry_pb2.ListInstancesResponse(instances=self.store.instances(request.service))
