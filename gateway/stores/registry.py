"""Schema of the embedded registry (registry.sqlite): each registered instance and its TTL."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Column, Float, LargeBinary, MetaData, Table, Text

from vipro.v1 import registry_pb2

metadata = MetaData()

instances = Table(
    "instances",
    metadata,
    Column("id", Text, primary_key=True),
    Column("ttl", Float),
    Column("instance", LargeBinary),
)


@dataclass(frozen=True)
class InstanceRow:
    """A registered instance: `ttl` is its lease in seconds, `instance` a serialized Instance."""

    id: str
    ttl: float
    instance: bytes

    def message(self) -> registry_pb2.Instance:
        """The Instance message (raises protobuf's DecodeError on a corrupt blob)."""
        return registry_pb2.Instance.FromString(self.instance)
