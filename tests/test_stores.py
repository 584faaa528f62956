"""The gateway's SQL stores without processes: typed rows, bound parameters, state written by the
previous (raw sqlite3) stores, concurrent use, and schemas that another backend can create."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import create_engine, create_mock_engine, func, select

from gateway.assets import AssetStore
from gateway.jobs import UNFINISHED, JobStore, to_job
from gateway.production import CaseStore
from gateway.registry_store import RegistryStore
from gateway.stores import assets, cases, jobs, registry
from gateway.stores.assets import AssetRow
from gateway.stores.jobs import JobRow
from vipro.v1 import assets_pb2, jobs_pb2, production_pb2, registry_pb2

HOSTILE = "x'); DROP TABLE jobs; --"
"""A value that breaks any SQL built by pasting text into a statement."""


def job(job_id: str, tenant: str = "t", key: str = "", **values) -> JobRow:
    now = time.time()
    return JobRow(
        id=job_id,
        tenant=tenant,
        method="/vipro.v1.EditingService/EraseVideo",
        state=values.pop("state", jobs_pb2.JOB_STATE_QUEUED),
        created=now,
        updated=now,
        idempotency_key=key,
        **values,
    )


def test_job_rows_come_back_typed(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite")
    store.insert(job("a", labels={"shot": "12"}, idempotent=True, request=b"\x00\x01", timeout=5))
    row = store.row("a")
    assert isinstance(row, JobRow)
    assert row.labels == {"shot": "12"} and row.idempotent is True
    assert row.request == b"\x00\x01" and row.timeout == 5.0 and row.attempts == 0
    listed = store.page("t", 0, 10, 0)
    assert [type(r) for r in listed] == [JobRow]
    assert listed[0].request == b"" and listed[0].labels == {"shot": "12"}
    assert to_job(row).labels == {"shot": "12"}


def test_hostile_text_round_trips_through_every_store(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite")
    store.insert(job(HOSTILE, tenant=HOSTILE, key=HOSTILE, labels={HOSTILE: HOSTILE}))
    assert store.row(HOSTILE, HOSTILE).labels == {HOSTILE: HOSTILE}
    assert store.by_key(HOSTILE, HOSTILE).id == HOSTILE
    assert store.update(HOSTILE, request_id=HOSTILE)
    assert [r.request_id for r in store.page(HOSTILE, 0, 10, 0)] == [HOSTILE]
    assert store.counts() == {jobs_pb2.JOB_STATE_QUEUED: 1}

    asset_store = AssetStore(tmp_path / "assets")

    async def chunks():
        yield b"bytes"

    header = assets_pb2.AssetHeader(media_type=HOSTILE, filename=HOSTILE)
    info, created = asyncio.run(asset_store.put(HOSTILE, header, chunks()))
    assert created and (info.media_type, info.filename) == (HOSTILE, HOSTILE)
    assert asset_store.list(HOSTILE, 10, 0) == [info]
    assert asset_store.used_bytes(HOSTILE) == 5
    assert asset_store.delete(HOSTILE, info.asset_id)

    case_store = CaseStore(tmp_path / "cases.sqlite")
    case_store.put(HOSTILE, production_pb2.Case(case_id=HOSTILE, recipe=HOSTILE))
    assert case_store.get(HOSTILE, HOSTILE).recipe == HOSTILE
    assert [c.case_id for c in case_store.page(HOSTILE, 10, 0)] == [HOSTILE]

    registry_store = RegistryStore(tmp_path / "registry.sqlite")
    registry_store.register(registry_pb2.Instance(instance_id=HOSTILE, address=HOSTILE), 30)
    registry_store.close()
    reopened = RegistryStore(tmp_path / "registry.sqlite")
    assert [i.address for i in reopened.instances()] == [HOSTILE]
    assert reopened.deregister(HOSTILE)

    tables = sqlite3.connect(tmp_path / "jobs.sqlite").execute(
        "SELECT name FROM sqlite_master WHERE type = 'table'"
    )
    assert [name for (name,) in tables] == ["jobs"]


def test_state_written_by_the_previous_stores_still_opens(tmp_path):
    """The tables as the raw-sqlite3 stores created them (same files, same columns)."""
    now = time.time()
    old = {
        "jobs.sqlite": [
            "CREATE TABLE jobs (id TEXT PRIMARY KEY, tenant TEXT, method TEXT, request BLOB, "
            "version TEXT, stage TEXT, idempotency_key TEXT, timeout REAL, labels TEXT, "
            "state INTEGER, progress BLOB, result BLOB, error BLOB, created REAL, updated REAL, "
            "expire REAL, attempts INTEGER, idempotent INTEGER, request_id TEXT)",
            (
                "INSERT INTO jobs VALUES ('j', 't', 'm', x'01', '', '', 'k', 60.0, "
                f"'{{\"a\": \"b\"}}', 2, x'', x'', x'', {now}, {now}, 0.0, 1, 1, 'r')"
            ),
        ],
        "cases.sqlite": [
            "CREATE TABLE cases (id TEXT PRIMARY KEY, tenant TEXT, created REAL, body BLOB)",
            "INSERT INTO cases VALUES ('c', 't', 1.0, x'0a0163')",
        ],
        "registry.sqlite": [
            "CREATE TABLE instances (id TEXT PRIMARY KEY, ttl REAL, instance BLOB)",
            "INSERT INTO instances VALUES ('i', 7.0, x'0a0169')",
        ],
        "assets/index.sqlite": [
            "CREATE TABLE assets (tenant TEXT, asset_id TEXT, size INTEGER, media_type TEXT, "
            "filename TEXT, created REAL, PRIMARY KEY (tenant, asset_id))",
            "INSERT INTO assets VALUES ('t', 'sha256:00', 3, 'image/png', 'a.png', 1.0)",
        ],
    }
    for name, statements in old.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        db = sqlite3.connect(tmp_path / name)
        for statement in statements:
            db.execute(statement)
        db.commit()
        db.close()

    row = JobStore(tmp_path / "jobs.sqlite").row("j")
    assert (row.labels, row.idempotent, row.request, row.state) == ({"a": "b"}, True, b"\x01", 2)
    assert CaseStore(tmp_path / "cases.sqlite").get("t", "c").case_id == "c"
    assert [i.instance_id for i in RegistryStore(tmp_path / "registry.sqlite").instances()] == ["i"]
    asset_store = AssetStore(tmp_path / "assets")
    assert asset_store.used_bytes("t") == 3
    assert asset_store._row("t", "sha256:00") == AssetRow(
        "t", "sha256:00", 3, "image/png", "a.png", 1.0
    )
    for name in old:
        mode = sqlite3.connect(tmp_path / name).execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal", name


def test_final_states_stand_and_keys_stay_unique(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite")
    store.insert(job("a", state=jobs_pb2.JOB_STATE_CANCELLED))
    assert not store.update("a", UNFINISHED, state=jobs_pb2.JOB_STATE_SUCCEEDED)
    assert not store.update("a", (jobs_pb2.JOB_STATE_QUEUED,), state=jobs_pb2.JOB_STATE_RUNNING)
    assert store.row("a").state == jobs_pb2.JOB_STATE_CANCELLED
    first = store.insert(job("first", key="k"))
    assert store.insert(job("second", key="k")) == first
    assert store.insert(job("other", tenant="u", key="k")).id == "other"
    assert store.row("second") is None


def test_stores_take_calls_from_many_threads(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite")
    barrier = threading.Barrier(8)

    def work(worker: int) -> None:
        barrier.wait()
        for n in range(25):
            job_id = f"{worker}-{n}"
            store.insert(job(job_id, key=f"k{n % 5}" if worker % 2 else ""))
            store.update(job_id, (jobs_pb2.JOB_STATE_QUEUED,), state=jobs_pb2.JOB_STATE_RUNNING)
            store.row(job_id)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(work, range(8)))
    # 4 workers without keys store all 100 jobs each; the 4 with keys share 5 jobs.
    counts = store.counts()
    assert sum(counts.values()) == 4 * 25 + 5
    assert counts[jobs_pb2.JOB_STATE_RUNNING] == 4 * 25 + 5


def test_stores_share_one_database_given_its_url(tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.sqlite'}"
    JobStore(url).insert(job("a"))
    CaseStore(url).put("t", production_pb2.Case(case_id="c"))
    RegistryStore(url).register(registry_pb2.Instance(instance_id="i"), 30)
    asset_store = AssetStore(tmp_path / "assets", index=url)

    async def chunks():
        yield b"bytes"

    asyncio.run(asset_store.put("t", assets_pb2.AssetHeader(), chunks()))
    assert not (tmp_path / "assets" / "index.sqlite").exists()
    tables = (jobs.jobs, cases.cases, registry.instances, assets.assets)
    with create_engine(url).connect() as connection:
        counts = [connection.execute(select(func.count()).select_from(t)).scalar() for t in tables]
    assert counts == [1, 1, 1, 1]


@pytest.mark.parametrize("schema", [assets, cases, jobs, registry])
def test_schemas_build_on_postgresql(schema):
    """The same table definitions create a PostgreSQL schema (a second backend needs a URL)."""
    statements: list[str] = []
    engine = create_mock_engine(
        "postgresql+psycopg2://", lambda sql, *_, **__: statements.append(str(sql.compile(engine)))
    )
    schema.metadata.create_all(engine, checkfirst=False)
    assert statements and all("CREATE" in s for s in statements)
    if schema is jobs:
        assert any("UNIQUE INDEX jobs_key" in s and "WHERE" in s for s in statements)
