"""Jobs: any capability call run asynchronously, persisted in SQLite.

A job is QUEUED when submitted, RUNNING while an instance serves it, and ends SUCCEEDED, FAILED or
CANCELLED. The gateway never loses one: at start-up, jobs that were RUNNING when the previous
process stopped are queued again when their capability is idempotent, and otherwise FAILED with
the reason. Finished jobs are deleted `retention_hours` after they end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Collection
from dataclasses import asdict
from pathlib import Path

import grpc
from google.protobuf import any_pb2, message_factory
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import status_pb2
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from common import logs
from common.contracts import capability_name, find_method
from common.errors import InvalidArgument, NotFound, ServiceError
from common.internal import JOB_HEADER, STAGE_HEADER, VERSION_HEADER
from common.retry import Backoff, retry_async, retryable
from common.validation import validate
from gateway.config import JobSettings
from gateway.metrics import JOBS, JOBS_FINISHED
from gateway.paging import next_token, page_offset
from gateway.proxy import Proxy
from gateway.stores.database import Database
from gateway.stores.jobs import JobRow, jobs, metadata
from vipro.v1 import common_pb2, jobs_pb2, jobs_pb2_grpc

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
"""A job interrupted by gateway restarts this many times is failed, not restarted again (a job
that crashes the gateway must not crash it forever)."""

FINAL = (jobs_pb2.JOB_STATE_SUCCEEDED, jobs_pb2.JOB_STATE_FAILED, jobs_pb2.JOB_STATE_CANCELLED)
UNFINISHED = tuple(s for s in jobs_pb2.JobState.values() if s not in FINAL)
_UNAVAILABLE_RETRY = Backoff(first=2.0, cap=8.0, attempts=4)
"""When no instance can take an idempotent job, it waits for one to (re)appear: 3 retries after
pauses of at most 2, 4 and 8 s (1, 2 and 4 s on average), within the job's timeout."""


def _stamp(seconds: float) -> Timestamp:
    stamp = Timestamp()
    stamp.FromNanoseconds(int(seconds * 1e9))
    return stamp


class JobStore:
    """Persistence of jobs; every method is one short blocking statement (async code calls them
    through asyncio.to_thread).

    Args:
        location: a SQLite file or a SQLAlchemy URL.
    """

    def __init__(self, location: Path | str):
        self.db = Database(location, metadata)

    def close(self) -> None:
        self.db.close()

    def insert(self, row: JobRow) -> JobRow:
        """Store a new job; returns it, or the tenant's job that already has its idempotency key
        (a concurrent submission stored it first)."""
        try:
            self.db.execute(insert(jobs).values(asdict(row)))
        except IntegrityError:
            existing = self.by_key(row.tenant, row.idempotency_key) if row.idempotency_key else None
            if existing is None:
                raise
            return existing
        return row

    def update(self, job_id: str, only_in: Collection[int] = (), **values) -> bool:
        """Set columns of a job (and `updated` to now); with `only_in`, only while the job's
        state is one of those. Returns whether the job changed.

        Raises:
            sqlalchemy.exc.CompileError: a name is not a column.
        """
        statement = update(jobs).where(jobs.c.id == job_id)
        if only_in:
            statement = statement.where(jobs.c.state.in_(only_in))
        return self.db.execute(statement.values(updated=time.time(), **values)) > 0

    def row(self, job_id: str, tenant: str | None = None) -> JobRow | None:
        """A job (of `tenant`, when given), or None."""
        statement = select(jobs).where(jobs.c.id == job_id)
        if tenant is not None:
            statement = statement.where(jobs.c.tenant == tenant)
        return self.db.first(statement, JobRow)

    def by_key(self, tenant: str, key: str) -> JobRow | None:
        """The tenant's job submitted with an idempotency key, or None."""
        statement = select(jobs).where(jobs.c.tenant == tenant, jobs.c.idempotency_key == key)
        return self.db.first(statement, JobRow)

    def ids_in_state(self, state: int) -> list[str]:
        """Ids of the jobs in a state, oldest first."""
        statement = select(jobs.c.id).where(jobs.c.state == state).order_by(jobs.c.created)
        return self.db.scalars(statement)

    def page(self, tenant: str, state: int, limit: int, offset: int) -> list[JobRow]:
        """A page of the tenant's jobs (of one state unless 0), newest first; their `request`
        and `result` are left empty."""
        # Listing never returns requests or results: leave the blobs on disk.
        listed = [c for c in jobs.c if c.name not in ("request", "result")]
        statement = select(*listed).where(jobs.c.tenant == tenant)
        if state:
            statement = statement.where(jobs.c.state == state)
        statement = statement.order_by(jobs.c.created.desc(), jobs.c.id)
        return self.db.all(statement.limit(limit).offset(offset), JobRow)

    def counts(self) -> dict[int, int]:
        """How many jobs each state has (states without jobs are absent)."""
        statement = select(jobs.c.state, func.count().label("count")).group_by(jobs.c.state)
        return dict(self.db.all(statement, lambda state, count: (state, count)))

    def purge_expired(self, now: float) -> int:
        """Delete finished jobs whose expiry time (seconds since the epoch) is before `now`;
        returns how many."""
        return self.db.execute(
            delete(jobs).where(jobs.c.expire > 0, jobs.c.expire < now, jobs.c.state.in_(FINAL))
        )


def _snapshot(job: jobs_pb2.Job) -> tuple:
    return (job.state, job.progress.SerializeToString(), job.attempts)


def to_job(row: JobRow, with_result: bool = True) -> jobs_pb2.Job:
    """The Job message of a stored row."""
    job = jobs_pb2.Job(
        job_id=row.id,
        method=row.method,
        state=row.state,
        create_time=_stamp(row.created),
        update_time=_stamp(row.updated),
        attempts=row.attempts,
        labels=row.labels,
    )
    if row.expire:
        job.expire_time.CopyFrom(_stamp(row.expire))
    if row.progress:
        job.progress.ParseFromString(row.progress)
    if with_result and row.result:
        job.result.ParseFromString(row.result)
    if row.error:
        job.error.ParseFromString(row.error)
    return job


def error_from_rpc(err: grpc.aio.AioRpcError) -> jobs_pb2.JobError:
    """A JobError carrying an instance's status and its google.rpc details."""
    error = jobs_pb2.JobError(code=err.code().value[0], message=err.details() or "")
    for key, value in err.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            status = status_pb2.Status.FromString(value)
            error.details.extend(status.details)
    return error


def error_from_service(err: ServiceError) -> jobs_pb2.JobError:
    status = err.to_status_proto()
    return jobs_pb2.JobError(code=status.code, message=status.message, details=status.details)


class JobRunner:
    """Runs queued jobs through the proxy with a fixed number of workers.

    Args:
        store: persistence.
        proxy: forwards the calls.
        settings: workers, retention, default timeout.
    """

    def __init__(self, store: JobStore, proxy: Proxy, settings: JobSettings):
        self.store = store
        self.proxy = proxy
        self.settings = settings
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._running: dict[str, asyncio.Task] = {}
        self._events: dict[str, asyncio.Event] = {}
        self._workers: list[asyncio.Task] = []
        self._stopping = False

    # Life cycle --------------------------------------------------------------------------
    async def recover(self) -> None:
        """Requeue or fail jobs the previous gateway process left RUNNING; queue QUEUED ones."""
        store = self.store
        for job_id in await asyncio.to_thread(store.ids_in_state, jobs_pb2.JOB_STATE_RUNNING):
            row = await asyncio.to_thread(store.row, job_id)
            if row.idempotent and row.attempts < MAX_ATTEMPTS:
                await asyncio.to_thread(store.update, job_id, state=jobs_pb2.JOB_STATE_QUEUED)
                log.info("requeued job after restart", extra={"job_id": job_id})
                continue
            why = (
                "its call is not idempotent, so it was not repeated"
                if not row.idempotent
                else f"it already started {row.attempts} times, so it was not repeated again"
            )
            await self._finish(
                job_id,
                row.method,
                jobs_pb2.JOB_STATE_FAILED,
                error=jobs_pb2.JobError(
                    code=grpc.StatusCode.ABORTED.value[0],
                    message=f"the gateway restarted while the job was running; {why}",
                ),
            )
        for job_id in await asyncio.to_thread(store.ids_in_state, jobs_pb2.JOB_STATE_QUEUED):
            self._queue.put_nowait(job_id)
        await self._publish_counts()

    async def start(self) -> None:
        """Recover, then start the workers and the retention sweeper."""
        await self.recover()
        self._workers = [
            asyncio.create_task(self._worker(), name=f"job-worker-{i}")
            for i in range(self.settings.workers)
        ]
        self._workers.append(asyncio.create_task(self._sweeper(), name="job-sweeper"))

    async def stop(self) -> None:
        """Stop workers; running jobs stay RUNNING in the store and are recovered next start."""
        self._stopping = True
        for task in [*self._running.values(), *self._workers]:
            task.cancel()
        await asyncio.gather(*self._running.values(), *self._workers, return_exceptions=True)

    # Operations --------------------------------------------------------------------------
    async def submit(self, tenant: str, request: jobs_pb2.SubmitJobRequest) -> jobs_pb2.Job:
        """Queue a call; returns the (possibly existing, by idempotency key) job."""
        if request.idempotency_key:
            existing = await asyncio.to_thread(self.store.by_key, tenant, request.idempotency_key)
            if existing:
                return to_job(existing)
        method = self.proxy.router.resolve(request.method)
        shape = self.proxy.shape(method)
        if shape is None:
            raise InvalidArgument.field("method", f"{method} is not served by any instance")
        if shape.client_streaming or shape.server_streaming:
            raise InvalidArgument.field("method", f"{method} is streaming; jobs run unary calls")
        _check_request(method, request.request)
        now = time.time()
        row = JobRow(
            id=uuid.uuid4().hex,
            tenant=tenant,
            method=method,
            state=jobs_pb2.JOB_STATE_QUEUED,
            created=now,
            updated=now,
            request=request.request.value,
            version=request.version,
            stage=request.stage,
            idempotency_key=request.idempotency_key,
            timeout=request.timeout_seconds or self.settings.default_timeout_seconds,
            labels=dict(request.labels),
            idempotent=shape.idempotent,
            request_id=logs.request_id.get(),
        )
        stored = await asyncio.to_thread(self.store.insert, row)
        if stored.id == row.id:
            self._queue.put_nowait(row.id)
            await self._publish_counts()
        return to_job(stored)

    async def get(self, tenant: str, job_id: str) -> jobs_pb2.Job:
        """A job of the tenant. Raises NotFound."""
        row = await asyncio.to_thread(self.store.row, job_id, tenant)
        if row is None:
            raise NotFound("job", job_id)
        return to_job(row)

    async def cancel(self, tenant: str, job_id: str) -> jobs_pb2.Job:
        """Cancel a queued or running job; a finished job is returned unchanged."""
        row = await asyncio.to_thread(self.store.row, job_id, tenant)
        if row is None:
            raise NotFound("job", job_id)
        if row.state not in FINAL:
            await self._finish(
                job_id,
                row.method,
                jobs_pb2.JOB_STATE_CANCELLED,
                error=jobs_pb2.JobError(
                    code=grpc.StatusCode.CANCELLED.value[0], message="cancelled by the caller"
                ),
            )
            task = self._running.get(job_id)
            if task is not None:
                task.cancel()
        return await self.get(tenant, job_id)

    async def report_progress(self, job_id: str, progress: common_pb2.Progress) -> bool:
        """Record progress from an instance; returns True when the job was cancelled."""
        row = await asyncio.to_thread(self.store.row, job_id)
        if row is None:
            raise NotFound("job", job_id)
        if row.state == jobs_pb2.JOB_STATE_RUNNING:
            running = (jobs_pb2.JOB_STATE_RUNNING,)
            await asyncio.to_thread(
                self.store.update, job_id, running, progress=progress.SerializeToString()
            )
            self._notify(job_id)
        return row.state == jobs_pb2.JOB_STATE_CANCELLED

    async def watch(self, tenant: str, job_id: str):
        """Yield the job now and after every change, until it reaches a final state."""
        last = None
        while True:
            job = await self.get(tenant, job_id)
            if _snapshot(job) != last:
                last = _snapshot(job)
                yield job
            if job.state in FINAL:
                return
            event = self._events.setdefault(job_id, asyncio.Event())
            if _snapshot(await self.get(tenant, job_id)) != last:
                continue  # changed before the event was in place
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout=5.0)

    # Internals ---------------------------------------------------------------------------
    def _notify(self, job_id: str) -> None:
        event = self._events.pop(job_id, None)
        if event is not None:
            event.set()

    async def _publish_counts(self) -> None:
        counts = await asyncio.to_thread(self.store.counts)
        for state in jobs_pb2.JobState.values():
            if state:
                name = jobs_pb2.JobState.Name(state).removeprefix("JOB_STATE_").lower()
                JOBS.labels(name).set(counts.get(state, 0))

    async def _finish(self, job_id: str, method: str, state: int, result=None, error=None) -> None:
        if not await asyncio.to_thread(self._store_final, job_id, state, result, error):
            return  # cancelled meanwhile (or purged): the first final state stands
        JOBS_FINISHED.labels(capability_name(method), jobs_pb2.JobState.Name(state)).inc()
        self._notify(job_id)
        await self._publish_counts()

    def _store_final(self, job_id: str, state: int, result, error) -> bool:
        """Write a final state unless the job has one already; returns whether it was written
        (blocking)."""
        current = self.store.row(job_id)
        if current is None or current.state in FINAL:
            return False
        values = {
            "state": state,
            "expire": time.time() + self.settings.retention_hours * 3600.0,
        }
        if result is not None:
            values["result"] = result.SerializeToString()
        if error is not None:
            values["error"] = error.SerializeToString()
        if state == jobs_pb2.JOB_STATE_SUCCEEDED:
            progress = common_pb2.Progress()
            if current.progress:
                progress.ParseFromString(current.progress)
            progress.fraction = 1.0
            values["progress"] = progress.SerializeToString()
        # Conditional, so a final state written meanwhile (by a cancel) stands.
        return self.store.update(job_id, UNFINISHED, **values)

    async def _worker(self) -> None:
        while True:
            job_id = await self._queue.get()
            row = await asyncio.to_thread(self.store.row, job_id)
            if row is None or row.state != jobs_pb2.JOB_STATE_QUEUED:
                continue
            # Registered before the job turns RUNNING, so a cancel that sees RUNNING finds it.
            task = asyncio.create_task(self._start(row))
            self._running[job_id] = task
            try:
                await task
            except asyncio.CancelledError:
                if self._stopping:
                    raise
            except Exception as exc:
                # A bug must cost one job, never a worker: the job fails with the reason.
                log.exception("job failed unexpectedly", extra={"job_id": job_id})
                await self._finish(
                    job_id,
                    row.method,
                    jobs_pb2.JOB_STATE_FAILED,
                    error=jobs_pb2.JobError(
                        code=grpc.StatusCode.INTERNAL.value[0], message=f"internal error: {exc}"
                    ),
                )
            finally:
                self._running.pop(job_id, None)

    async def _start(self, row: JobRow) -> None:
        """Turn a QUEUED job RUNNING (unless it was cancelled meanwhile), then run it."""
        started = await asyncio.to_thread(
            self.store.update,
            row.id,
            (jobs_pb2.JOB_STATE_QUEUED,),
            state=jobs_pb2.JOB_STATE_RUNNING,
            attempts=row.attempts + 1,
        )
        if not started:
            return
        self._notify(row.id)
        await self._publish_counts()
        await self._run(row)

    async def _run(self, row: JobRow) -> None:
        job_id, method = row.id, row.method
        logs.request_id.set(row.request_id or job_id)
        logs.tenant.set(row.tenant)
        pins = [(VERSION_HEADER, row.version), (STAGE_HEADER, row.stage)]
        metadata = self.proxy.mesh_metadata((JOB_HEADER, job_id), *[p for p in pins if p[1]])
        deadline = time.monotonic() + row.timeout
        try:
            reply = await retry_async(
                lambda: self.proxy.invoke(
                    method, row.request, metadata, max(deadline - time.monotonic(), 0.001)
                ),
                _UNAVAILABLE_RETRY,
                deadline,
                retry_if=lambda err: row.idempotent and retryable(err),
            )
        except (grpc.aio.AioRpcError, ServiceError) as err:
            error = (
                error_from_rpc(err)
                if isinstance(err, grpc.aio.AioRpcError)
                else error_from_service(err)
            )
            await self._finish(job_id, method, jobs_pb2.JOB_STATE_FAILED, error=error)
            return
        result = any_pb2.Any(type_url=self._output_type_url(method), value=reply)
        await self._finish(job_id, method, jobs_pb2.JOB_STATE_SUCCEEDED, result=result)

    def _output_type_url(self, method: str) -> str:
        md = find_method(method)
        if md is not None:
            return f"type.googleapis.com/{md.output_type.full_name}"
        decl = self.proxy.router.declaration(method)
        return f"type.googleapis.com/{decl.output_type}" if decl and decl.output_type else ""

    async def _sweeper(self) -> None:
        while True:
            await asyncio.sleep(60.0)
            purged = await asyncio.to_thread(self.store.purge_expired, time.time())
            if purged:
                log.info("purged expired jobs", extra={"count": purged})
                await self._publish_counts()


def _check_request(method: str, packed: any_pb2.Any) -> None:
    """Check the packed request's type and rules when the gateway knows the method's contract."""
    md = find_method(method)
    if md is None:
        return
    if packed.TypeName() != md.input_type.full_name:
        raise InvalidArgument.field(
            "request",
            f"is a {packed.TypeName() or 'nothing'}, {method} takes {md.input_type.full_name}",
        )
    message = message_factory.GetMessageClass(md.input_type)()
    try:
        message.ParseFromString(packed.value)
    except Exception:
        raise InvalidArgument.field("request", "cannot be parsed") from None
    violations = validate(message)
    if violations:
        raise InvalidArgument(
            f"invalid {md.input_type.name}",
            [type(v)(f"request.{v.field}", v.description) for v in violations],
        )


class JobServicer(jobs_pb2_grpc.JobServiceServicer):
    """vipro.v1.JobService over a JobRunner (asyncio server)."""

    def __init__(self, runner: JobRunner):
        self.runner = runner

    async def SubmitJob(self, request, context):
        job = await self.runner.submit(logs.tenant.get(), request)
        return jobs_pb2.SubmitJobResponse(job=job)

    async def GetJob(self, request, context):
        job = await self.runner.get(logs.tenant.get(), request.job_id)
        return jobs_pb2.GetJobResponse(job=job)

    async def WatchJob(self, request, context):
        async for job in self.runner.watch(logs.tenant.get(), request.job_id):
            yield jobs_pb2.WatchJobResponse(job=job)

    async def CancelJob(self, request, context):
        job = await self.runner.cancel(logs.tenant.get(), request.job_id)
        return jobs_pb2.CancelJobResponse(job=job)

    async def ListJobs(self, request, context):
        size = request.page_size or 100
        offset = page_offset(request.page_token)
        rows = await asyncio.to_thread(
            self.runner.store.page, logs.tenant.get(), request.state, size + 1, offset
        )
        return jobs_pb2.ListJobsResponse(
            jobs=[to_job(r, with_result=False) for r in rows[:size]],
            next_page_token=next_token(offset, size, len(rows)),
        )

    async def ReportProgress(self, request, context):
        cancelled = await self.runner.report_progress(request.job_id, request.progress)
        return jobs_pb2.ReportProgressResponse(cancelled=cancelled)
