"""Jobs: submit, watch with progress, cancel, list, and survival of a gateway restart."""

from __future__ import annotations

import os
import signal
import time

import grpc
import pytest
from google.protobuf import any_pb2

from common.client import connect
from common.mesh import Mesh
from tests.conftest import tenants
from vipro.v1 import common_pb2, editing_pb2, jobs_pb2, jobs_pb2_grpc


@pytest.fixture(scope="module")
def job_mesh(tmp_path_factory, echo_pythonpath):
    """A mesh of its own (the gateway is restarted here): gateway, editing and echo."""
    home = tmp_path_factory.mktemp("jobmesh")
    mesh = Mesh(home, gateway_port=0, metrics_port=0)
    mesh.write_config()
    mesh.start_gateway(tenants=tenants(mesh))
    mesh.start_service("editing")
    env = {"PYTHONPATH": f"{echo_pythonpath}:{os.environ.get('PYTHONPATH', '')}"}
    mesh.start_service("echo", module="provider", env=env)
    yield mesh
    mesh.down()


@pytest.fixture
def jobs(job_mesh, echo_modules):
    return jobs_pb2_grpc.JobServiceStub(connect(job_mesh.gateway_address, job_mesh.api_key))


def echo_job(echo_pb2, delay_ms: int, **fields) -> jobs_pb2.SubmitJobRequest:
    packed = any_pb2.Any()
    packed.Pack(echo_pb2.EchoRequest(payload=b"job", delay_ms=delay_ms))
    return jobs_pb2.SubmitJobRequest(method="echo.Echo", request=packed, **fields)


def echo_method_job(echo_pb2, delay_ms: int, **fields) -> jobs_pb2.SubmitJobRequest:
    request = echo_job(echo_pb2, delay_ms, **fields)
    request.method = "/vipro_test.v1.EchoService/Echo"
    return request


def wait_state(jobs, job_id: str, states, timeout: float = 20.0) -> jobs_pb2.Job:
    deadline = time.monotonic() + timeout
    while True:
        job = jobs.GetJob(jobs_pb2.GetJobRequest(job_id=job_id), timeout=5).job
        if job.state in states:
            return job
        assert time.monotonic() < deadline, f"job stuck in {jobs_pb2.JobState.Name(job.state)}"
        time.sleep(0.05)


def test_watch_streams_progress_until_success(jobs, echo_modules):
    echo_pb2, _ = echo_modules
    job = jobs.SubmitJob(echo_method_job(echo_pb2, 1500), timeout=5).job
    assert job.state == jobs_pb2.JOB_STATE_QUEUED
    updates = [
        u.job for u in jobs.WatchJob(jobs_pb2.WatchJobRequest(job_id=job.job_id), timeout=30)
    ]
    states = [u.state for u in updates]
    assert states[-1] == jobs_pb2.JOB_STATE_SUCCEEDED
    assert jobs_pb2.JOB_STATE_RUNNING in states
    fractions = [u.progress.fraction for u in updates if u.state == jobs_pb2.JOB_STATE_RUNNING]
    assert len(fractions) >= 2 and fractions == sorted(fractions), fractions
    reply = echo_pb2.EchoResponse()
    assert updates[-1].result.Unpack(reply)
    assert reply.payload == b"job"


def test_capability_name_form_and_idempotency_key(jobs, echo_modules):
    echo_pb2, _ = echo_modules
    first = jobs.SubmitJob(echo_job(echo_pb2, 10, idempotency_key="k-1"), timeout=5).job
    again = jobs.SubmitJob(echo_job(echo_pb2, 10, idempotency_key="k-1"), timeout=5).job
    assert first.job_id == again.job_id
    assert wait_state(jobs, first.job_id, [jobs_pb2.JOB_STATE_SUCCEEDED]).attempts == 1


def test_cancel_stops_a_running_job_promptly(jobs, echo_modules):
    echo_pb2, _ = echo_modules
    job = jobs.SubmitJob(echo_method_job(echo_pb2, 20_000), timeout=5).job
    wait_state(jobs, job.job_id, [jobs_pb2.JOB_STATE_RUNNING])
    t0 = time.monotonic()
    cancelled = jobs.CancelJob(jobs_pb2.CancelJobRequest(job_id=job.job_id), timeout=5).job
    assert cancelled.state == jobs_pb2.JOB_STATE_CANCELLED
    assert time.monotonic() - t0 < 1.0
    time.sleep(0.5)
    assert wait_state(jobs, job.job_id, [jobs_pb2.JOB_STATE_CANCELLED]).error.code == 1


def test_list_filters_by_state_and_tenant(job_mesh, jobs, echo_modules):
    echo_pb2, _ = echo_modules
    job = jobs.SubmitJob(echo_method_job(echo_pb2, 10), timeout=5).job
    wait_state(jobs, job.job_id, [jobs_pb2.JOB_STATE_SUCCEEDED])
    listed = jobs.ListJobs(jobs_pb2.ListJobsRequest(state=jobs_pb2.JOB_STATE_SUCCEEDED)).jobs
    assert job.job_id in [j.job_id for j in listed]
    assert all(j.state == jobs_pb2.JOB_STATE_SUCCEEDED for j in listed)
    other = jobs_pb2_grpc.JobServiceStub(connect(job_mesh.gateway_address, "other-tenant-key"))
    assert job.job_id not in [j.job_id for j in other.ListJobs(jobs_pb2.ListJobsRequest()).jobs]
    with pytest.raises(grpc.RpcError) as info:
        other.GetJob(jobs_pb2.GetJobRequest(job_id=job.job_id))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_submit_checks_the_request_against_the_contract(jobs):
    wrong_type = any_pb2.Any()
    wrong_type.Pack(common_pb2.Box())
    with pytest.raises(grpc.RpcError) as info:
        jobs.SubmitJob(
            jobs_pb2.SubmitJobRequest(method="editing.ConvertImage", request=wrong_type), timeout=5
        )
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    empty = any_pb2.Any()
    empty.Pack(editing_pb2.ConvertImageRequest(width=99999))
    with pytest.raises(grpc.RpcError) as info:
        jobs.SubmitJob(
            jobs_pb2.SubmitJobRequest(method="editing.ConvertImage", request=empty), timeout=5
        )
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "request.width" in str(info.value.trailing_metadata()) or "width" in info.value.details()


def test_a_running_job_survives_a_gateway_crash(job_mesh, jobs, echo_modules):
    echo_pb2, _ = echo_modules
    job = jobs.SubmitJob(echo_method_job(echo_pb2, 3000), timeout=5).job
    wait_state(jobs, job.job_id, [jobs_pb2.JOB_STATE_RUNNING])
    job_mesh.stop("gateway", sig=signal.SIGKILL)
    job_mesh.start_gateway(tenants=tenants(job_mesh))
    fresh = jobs_pb2_grpc.JobServiceStub(connect(job_mesh.gateway_address, job_mesh.api_key))
    done = wait_state(fresh, job.job_id, [jobs_pb2.JOB_STATE_SUCCEEDED, jobs_pb2.JOB_STATE_FAILED])
    assert done.state == jobs_pb2.JOB_STATE_SUCCEEDED, done.error
    assert done.attempts == 2  # restarted once after the crash


def test_registry_state_survives_a_gateway_restart(job_mesh):
    from common.registry.embedded import EmbeddedRegistryClient

    job_mesh.stop("gateway", sig=signal.SIGKILL)
    job_mesh.start_gateway(tenants=tenants(job_mesh))
    client = EmbeddedRegistryClient(job_mesh.gateway_address, job_mesh.internal_token)
    try:
        # Read at once, before any instance could notice and register again.
        names = {i.meta["process"] for i in client.instances() if i.healthy}
    finally:
        client.close()
    assert {"editing", "echo"} <= names


def test_gateway_drains_in_flight_calls_on_sigterm(job_mesh, echo_modules):
    echo_pb2, echo_pb2_grpc = echo_modules
    stub = echo_pb2_grpc.EchoServiceStub(connect(job_mesh.gateway_address, job_mesh.api_key))
    future = stub.Echo.future(echo_pb2.EchoRequest(payload=b"drain", delay_ms=1500), timeout=10)
    time.sleep(0.4)
    os.kill(job_mesh.processes["gateway"].pid, signal.SIGTERM)
    assert future.result().payload == b"drain"
    job_mesh.stop("gateway")
    job_mesh.start_gateway(tenants=tenants(job_mesh))
