"""Schema of the job store (jobs.sqlite): one row per job, its request, state and outcome."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
)

metadata = MetaData()

jobs = Table(
    "jobs",
    metadata,
    Column("id", Text, primary_key=True),
    Column("tenant", Text),
    Column("method", Text),
    Column("request", LargeBinary),
    Column("version", Text),
    Column("stage", Text),
    Column("idempotency_key", Text),
    Column("timeout", Float),
    Column("labels", JSON),
    Column("state", Integer),
    Column("progress", LargeBinary),
    Column("result", LargeBinary),
    Column("error", LargeBinary),
    Column("created", Float),
    Column("updated", Float),
    Column("expire", Float),
    Column("attempts", Integer),
    Column("idempotent", Boolean),
    Column("request_id", Text),
)
Index("jobs_tenant", jobs.c.tenant, jobs.c.created)
# One job per (tenant, idempotency key); jobs without a key are never merged.
_KEYED = jobs.c.idempotency_key != ""
Index(
    "jobs_key",
    jobs.c.tenant,
    jobs.c.idempotency_key,
    unique=True,
    sqlite_where=_KEYED,
    postgresql_where=_KEYED,
)


@dataclass
class JobRow:
    """A stored job. Times are seconds since the epoch (`expire` 0 until the job ends);
    `timeout` is seconds; `state` a vipro.v1.JobState; `request` the packed request's bytes;
    `progress`, `result` and `error` serialized Progress, Any and JobError (b"" when unset)."""

    id: str
    tenant: str
    method: str
    state: int
    created: float
    updated: float
    request: bytes = b""
    version: str = ""
    stage: str = ""
    idempotency_key: str = ""
    timeout: float = 0.0
    labels: dict[str, str] = field(default_factory=dict)
    progress: bytes = b""
    result: bytes = b""
    error: bytes = b""
    expire: float = 0.0
    attempts: int = 0
    idempotent: bool = False
    request_id: str = ""
