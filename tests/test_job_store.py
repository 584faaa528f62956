"""Job persistence rules without processes: recovery after a crash and result retention."""

from __future__ import annotations

import asyncio
import time

from gateway.config import JobSettings
from gateway.jobs import JobRunner, JobStore
from gateway.stores.jobs import JobRow
from vipro.v1 import jobs_pb2


def row(job_id: str, state: int, idempotent: bool, expire: float = 0.0) -> JobRow:
    now = time.time()
    return JobRow(
        id=job_id,
        tenant="t",
        method="/vipro.v1.EditingService/EraseVideo",
        state=state,
        created=now,
        updated=now,
        timeout=60.0,
        expire=expire,
        attempts=1,
        idempotent=idempotent,
    )


def test_recovery_requeues_idempotent_and_fails_the_rest(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite")
    store.insert(row("safe", jobs_pb2.JOB_STATE_RUNNING, idempotent=True))
    store.insert(row("unsafe", jobs_pb2.JOB_STATE_RUNNING, idempotent=False))
    store.insert(row("waiting", jobs_pb2.JOB_STATE_QUEUED, idempotent=False))
    runner = JobRunner(store, proxy=None, settings=JobSettings())
    asyncio.run(runner.recover())
    assert store.row("safe").state == jobs_pb2.JOB_STATE_QUEUED
    failed = store.row("unsafe")
    assert failed.state == jobs_pb2.JOB_STATE_FAILED
    error = jobs_pb2.JobError.FromString(failed.error)
    assert "restarted" in error.message and "not idempotent" in error.message
    assert failed.expire > time.time()
    assert store.row("waiting").state == jobs_pb2.JOB_STATE_QUEUED
    queued = [runner._queue.get_nowait() for _ in range(runner._queue.qsize())]
    assert sorted(queued) == ["safe", "waiting"]


def test_retention_purges_only_finished_expired_jobs(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite")
    past = time.time() - 1
    store.insert(row("old-done", jobs_pb2.JOB_STATE_SUCCEEDED, True, expire=past))
    store.insert(row("fresh-done", jobs_pb2.JOB_STATE_SUCCEEDED, True, expire=time.time() + 99))
    store.insert(row("running", jobs_pb2.JOB_STATE_RUNNING, True, expire=past))
    assert store.purge_expired(time.time()) == 1
    assert store.row("old-done") is None
    assert store.row("fresh-done") is not None and store.row("running") is not None
