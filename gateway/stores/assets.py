"""Schema of the asset index (index.sqlite): (tenant, asset_id) -> size, media type, name, time."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Column, Float, Integer, MetaData, Table, Text

metadata = MetaData()

assets = Table(
    "assets",
    metadata,
    Column("tenant", Text, primary_key=True),
    Column("asset_id", Text, primary_key=True),
    Column("size", Integer),
    Column("media_type", Text),
    Column("filename", Text),
    Column("created", Float),
)


@dataclass(frozen=True)
class AssetRow:
    """One asset of a tenant: `size` in bytes, `created` in seconds since the epoch."""

    tenant: str
    asset_id: str
    size: int
    media_type: str
    filename: str
    created: float
