"""The shared back-off policy and token bucket (common.retry), and the retry sites that are
cheap to drive without processes: the Triton client and the gateway's proxy."""

from __future__ import annotations

import asyncio
import random
import threading

import grpc
import pytest
from tritonclient.utils import InferenceServerException

from common.errors import InvalidArgument, ServiceError, Unavailable
from common.inference import Inference
from common.retry import Backoff, TokenBucket, retry_async, retry_call, retryable, status_code
from gateway.proxy import Proxy
from gateway.routing import Router
from vipro.v1 import registry_pb2


class Clock:
    """A monotonic clock that moves only when told (or when `sleep` is called)."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class Failing:
    """A call raising `errors` in turn, then returning "ok"; counts its calls."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def test_ceilings_grow_by_the_multiplier_and_stop_at_the_cap():
    # An rng drawing the top of every range shows the ceilings themselves.
    top = random.Random()
    top.uniform = lambda low, high: high
    policy = Backoff(first=0.5, multiplier=3.0, cap=10.0, attempts=6, rng=top)
    assert list(policy.delays()) == [0.5, 1.5, 4.5, 10.0, 10.0]


def test_jitter_stays_within_bounds_and_is_reproducible_with_a_seed():
    policy = Backoff(first=1.0, cap=8.0, attempts=None, rng=random.Random(7))
    delays = [d for d, _ in zip(policy.delays(), range(200), strict=False)]
    ceilings = [min(8.0, 2.0**n) for n in range(200)]
    assert all(0.0 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert max(delays[10:]) > 6.0 and min(delays[10:]) < 2.0  # spread over the whole range
    again = Backoff(first=1.0, cap=8.0, attempts=None, rng=random.Random(7))
    assert [d for d, _ in zip(again.delays(), range(200), strict=False)] == delays


def test_endless_policy_never_overflows():
    delays = Backoff(first=1.0, multiplier=10.0, cap=30.0, attempts=None).delays()
    assert all(0.0 <= next(delays) <= 30.0 for _ in range(2000))


def test_attempts_count_the_first_call():
    assert len(list(Backoff(attempts=4).delays())) == 3
    assert list(Backoff(attempts=1).delays()) == []
    assert list(Backoff(first=0.0, attempts=3).delays()) == [0.0, 0.0]


def test_no_pause_reaches_the_deadline():
    clock = Clock()
    top = random.Random()
    top.uniform = lambda low, high: high
    policy = Backoff(first=1.0, cap=100.0, attempts=None, rng=top, clock=clock)
    slept = []
    for delay in policy.delays(deadline=clock.now + 10.0):
        slept.append(delay)
        clock.sleep(delay)
    assert slept == [1.0, 2.0, 4.0]  # 8 more would end at 15 > 10
    assert clock.now < 100.0 + 10.0
    assert list(Backoff(first=0.0, clock=clock).delays(deadline=clock.now)) == []


def test_status_codes_decide_not_text():
    class Rpc(grpc.RpcError):
        def __init__(self, code):
            self._code = code

        def code(self):
            return self._code

    assert status_code(Rpc(grpc.StatusCode.UNAVAILABLE)) == grpc.StatusCode.UNAVAILABLE
    assert status_code(InvalidArgument("x")) == grpc.StatusCode.INVALID_ARGUMENT
    assert status_code(ValueError("StatusCode.UNAVAILABLE")) is None
    assert status_code(grpc.RpcError()) is None
    assert retryable(Unavailable("down"))
    assert retryable(Rpc(grpc.StatusCode.UNAVAILABLE))
    assert not retryable(ServiceError("UNAVAILABLE, failed to connect"))  # INTERNAL
    assert retryable(ServiceError("busy", code=grpc.StatusCode.ABORTED), {grpc.StatusCode.ABORTED})


def test_retry_call_retries_retryable_errors_and_counts_attempts():
    clock = Clock()
    policy = Backoff(first=0.1, attempts=3, rng=random.Random(1), clock=clock)
    call = Failing(Unavailable("a"), Unavailable("b"))
    assert retry_call(call, policy, sleep=clock.sleep) == "ok"
    assert call.calls == 3
    assert 0.0 <= clock.now - 100.0 <= 0.1 + 0.2

    call = Failing(Unavailable("a"), Unavailable("b"), Unavailable("c"))
    with pytest.raises(Unavailable, match="c"):
        retry_call(call, policy, sleep=clock.sleep)
    assert call.calls == 3  # attempts ran out


def test_non_retryable_errors_are_raised_at_once():
    clock = Clock()
    policy = Backoff(attempts=5, clock=clock)
    call = Failing(InvalidArgument("bad"))
    with pytest.raises(InvalidArgument):
        retry_call(call, policy, sleep=clock.sleep)
    assert call.calls == 1 and clock.now == 100.0
    call = Failing(Unavailable("down"))
    with pytest.raises(Unavailable):
        retry_call(call, policy, retry_if=lambda e: False, sleep=clock.sleep)
    assert call.calls == 1


def test_retry_call_gives_up_before_sleeping_past_the_deadline():
    clock = Clock()
    top = random.Random()
    top.uniform = lambda low, high: high
    policy = Backoff(first=1.0, attempts=10, rng=top, clock=clock)
    call = Failing(*[Unavailable(str(n)) for n in range(10)])
    with pytest.raises(Unavailable, match="2"):
        retry_call(call, policy, deadline=clock.now + 3.5, sleep=clock.sleep)
    assert call.calls == 3 and clock.now == 103.0  # slept 1 and 2; 4 would pass the deadline


def test_retry_async_follows_the_same_policy():
    policy = Backoff(first=0.01, attempts=3)

    async def run(call):
        async def attempt():
            return call()

        return await retry_async(attempt, policy)

    call = Failing(Unavailable("a"))
    assert asyncio.run(run(call)) == "ok" and call.calls == 2
    call = Failing(InvalidArgument("bad"))
    with pytest.raises(InvalidArgument):
        asyncio.run(run(call))
    assert call.calls == 1


def test_bucket_allows_the_burst_then_the_rate():
    clock = Clock()
    bucket = TokenBucket(rate=4.0, burst=2, clock=clock)
    assert [bucket.take(), bucket.take()] == [0.0, 0.0]
    assert bucket.take() == pytest.approx(0.25)
    clock.sleep(0.125)
    assert bucket.take() == pytest.approx(0.125)  # half a token so far, none taken
    clock.sleep(0.125)
    assert bucket.take() == 0.0
    clock.sleep(60.0)  # refills up to the burst, no further
    assert [bucket.take() for _ in range(3)][-1] > 0.0
    assert TokenBucket(rate=0.0, burst=1, clock=clock).take() == 0.0  # unlimited
    assert TokenBucket(rate=1.0, burst=0, clock=clock).burst == 1.0


def test_bucket_wait_blocks_for_a_token_or_until_stopped():
    stop = threading.Event()
    bucket = TokenBucket(rate=50.0, burst=1)
    assert bucket.wait(stop) and bucket.wait(stop)  # the second one waited ~20 ms
    slow = TokenBucket(rate=0.01, burst=1)
    slow.take()
    stop.set()
    assert not slow.wait(stop)


def test_bucket_is_thread_safe():
    clock = Clock()
    bucket = TokenBucket(rate=1.0, burst=1000, clock=clock)
    taken: list[int] = []

    def grab():
        taken.append(sum(bucket.take() == 0.0 for _ in range(500)))

    threads = [threading.Thread(target=grab) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(taken) == 1000  # exactly the burst, no token given twice


def test_triton_client_retries_by_status_code_not_by_text(monkeypatch):
    inference = Inference("127.0.0.1:9", retries=2)  # nothing listens: never reached here
    unavailable = InferenceServerException("Socket closed", status="StatusCode.UNAVAILABLE")
    call = Failing(unavailable, unavailable)
    monkeypatch.setattr(inference, "_infer_once", lambda *args: call())
    assert inference.infer("m", {}, []) == "ok" and call.calls == 3

    call = Failing(unavailable, unavailable, unavailable)
    with pytest.raises(Unavailable):
        inference.infer("m", {}, [])
    assert call.calls == 3  # 1 + retries

    text_only = InferenceServerException("failed to connect", status="StatusCode.INTERNAL")
    call = Failing(text_only)
    with pytest.raises(ServiceError) as info:
        inference.infer("m", {}, [])
    assert info.value.code == grpc.StatusCode.INTERNAL and call.calls == 1
    missing = InferenceServerException("unknown model", status="StatusCode.NOT_FOUND")
    call = Failing(missing)
    with pytest.raises(ServiceError) as info:
        inference.infer("m", {}, [])
    assert info.value.code == grpc.StatusCode.FAILED_PRECONDITION and call.calls == 1
    inference.close()


METHOD = "/vipro.v1.EditingService/ConvertImage"


def echo_instance(iid: str, idempotent: bool) -> registry_pb2.Instance:
    return registry_pb2.Instance(
        instance_id=iid,
        services=["vipro.v1.EditingService"],
        address=iid,
        healthy=True,
        capabilities=[
            registry_pb2.CapabilityDeclaration(
                name="editing.ConvertImage", method=METHOD, version="1.0.0", idempotent=idempotent
            )
        ],
    )


def proxy_answering(codes: dict[str, grpc.StatusCode], attempts: int, idempotent: bool = True):
    """A proxy over instances answering `codes` (address -> code), and the addresses it called."""
    instances = [echo_instance(iid, idempotent) for iid in codes]
    proxy = Proxy(Router(lambda: instances, lambda: 1), retry_attempts=attempts)
    called: list[str] = []

    class Channel:
        def __init__(self, address: str) -> None:
            self.address = address

        def unary_unary(self, method: str):
            async def call(request, metadata=None, timeout=None):
                called.append(self.address)
                code = codes[self.address]
                if code != grpc.StatusCode.OK:
                    empty = grpc.aio.Metadata()
                    raise grpc.aio.AioRpcError(code, empty, empty, details=self.address)
                return self.address.encode()

            return call

    proxy.channel = Channel
    return proxy, called


def test_proxy_retries_unavailable_on_instances_not_tried_yet():
    down, up = grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.OK
    proxy, called = proxy_answering({"a": down, "b": down, "c": up}, attempts=3)
    assert asyncio.run(proxy.invoke(METHOD, b"", (), 5.0)) == b"c"
    assert called[-1] == "c" and len(set(called)) == len(called)  # never the same one twice

    proxy, called = proxy_answering({"a": down, "b": down, "c": down}, attempts=2)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        asyncio.run(proxy.invoke(METHOD, b"", (), 5.0))
    assert info.value.code() == down and len(called) == 2  # retry_attempts counts instances

    proxy, called = proxy_answering({"a": down, "b": down}, attempts=5)
    with pytest.raises(grpc.aio.AioRpcError):  # no instance left: the last answer, not "none"
        asyncio.run(proxy.invoke(METHOD, b"", (), 5.0))
    assert sorted(called) == ["a", "b"]


def test_proxy_does_not_retry_other_codes_or_non_idempotent_calls():
    bad, down = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.UNAVAILABLE
    proxy, called = proxy_answering({"a": bad, "b": bad}, attempts=3)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        asyncio.run(proxy.invoke(METHOD, b"", (), 5.0))
    assert info.value.code() == bad and len(called) == 1
    proxy, called = proxy_answering({"a": down, "b": down}, attempts=3, idempotent=False)
    with pytest.raises(grpc.aio.AioRpcError):
        asyncio.run(proxy.invoke(METHOD, b"", (), 5.0))
    assert len(called) == 1
