"""Schema of the case store (cases.sqlite): each recorded production, per tenant."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Column, Float, LargeBinary, MetaData, Table, Text

from vipro.v1 import production_pb2

metadata = MetaData()

cases = Table(
    "cases",
    metadata,
    Column("id", Text, primary_key=True),
    Column("tenant", Text),
    Column("created", Float),
    Column("body", LargeBinary),
)


@dataclass(frozen=True)
class CaseRow:
    """A recorded case: `created` in seconds since the epoch, `body` a serialized Case."""

    id: str
    tenant: str
    created: float
    body: bytes

    def case(self) -> production_pb2.Case:
        """The Case message (raises protobuf's DecodeError on a corrupt body)."""
        return production_pb2.Case.FromString(self.body)
