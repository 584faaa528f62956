"""Retrying failed calls and limiting call rates: the one back-off policy and token bucket.

`Backoff` is exponential back-off with full jitter: the pause before retry n (n = 0, 1, ...) is
drawn uniformly from [0, min(cap, first * multiplier**n)]. Full rather than decorrelated jitter
because each pause's bound depends on n alone: the worst case of a retry loop is known in advance
(simple to hold against a deadline, and to test), while clients that failed together still
spread out about as well (Brooker, "Exponential Backoff And Jitter", AWS Architecture Blog,
2015). A pause averages half its ceiling.

Whether an error is worth retrying is decided by its gRPC status code (`retryable`), never by its
text. Sync and asyncio callers share the policy through `retry_call` and `retry_async`; loops
that do more between attempts (the gateway's proxy tries another instance each time) iterate
`Backoff.delays` themselves::

    policy = Backoff(first=0.2, cap=2.0, attempts=3)
    reply = retry_call(lambda: stub.Get(request, timeout=5), policy, time.monotonic() + 5)
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

import grpc

from common.errors import ServiceError

T = TypeVar("T")

RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE})
"""Codes worth another attempt by default: the server could not take the call at all."""

_RANDOM = random.Random()


def status_code(error: BaseException) -> grpc.StatusCode | None:
    """The gRPC status of `error` (a `grpc.RpcError` of a call, sync or asyncio, or a
    `ServiceError`); None for any other exception."""
    if isinstance(error, ServiceError):
        return error.code
    code = getattr(error, "code", None)
    return code() if isinstance(error, grpc.RpcError) and callable(code) else None


def retryable(error: BaseException, codes: frozenset[grpc.StatusCode] = RETRYABLE) -> bool:
    """Whether `error` carries one of `codes`."""
    return status_code(error) in codes


@dataclass(frozen=True)
class Backoff:
    """Exponential back-off with full jitter (see the module docstring).

    Attributes:
        first: ceiling of the first pause, seconds; 0 retries at once.
        multiplier: growth of the ceiling from one pause to the next.
        cap: largest ceiling, seconds.
        attempts: calls in all, the first included; None for no limit.
        rng: source of the jitter (seed one for reproducible pauses).
        clock: monotonic clock, seconds, that deadlines are read against.
    """

    first: float = 0.1
    multiplier: float = 2.0
    cap: float = 10.0
    attempts: int | None = 3
    rng: random.Random = field(default=_RANDOM, repr=False, compare=False)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False, compare=False)

    def delays(self, deadline: float | None = None) -> Iterator[float]:
        """The pauses before each retry, seconds: `attempts - 1` of them (endless when
        `attempts` is None). Ends early, when asked for a pause, if that pause would reach
        `deadline` (a `clock()` time): the retry after it could not run."""
        ceiling, retries = self.first, 0
        while self.attempts is None or retries < self.attempts - 1:
            delay = self.rng.uniform(0.0, min(ceiling, self.cap))
            if deadline is not None and self.clock() + delay >= deadline:
                return
            yield delay
            # Capped as it grows: an endless loop must not overflow the float.
            ceiling, retries = min(ceiling * self.multiplier, self.cap), retries + 1


def _pause(
    error: Exception, delays: Iterator[float], retry_if: Callable[[Exception], bool]
) -> float:
    """The next pause after `error`; re-raises `error` when it is not retried."""
    delay = next(delays, None) if retry_if(error) else None
    if delay is None:
        raise error
    return delay


def retry_call(
    call: Callable[[], T],
    policy: Backoff,
    deadline: float | None = None,
    retry_if: Callable[[Exception], bool] = retryable,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """`call()`, retried after `policy`'s pauses while it raises errors `retry_if` accepts.

    Raises:
        Exception: the last error, when `retry_if` refuses it, attempts ran out or the next pause
            would reach `deadline` (a `policy.clock()` time).
    """
    delays = policy.delays(deadline)
    while True:
        try:
            return call()
        except Exception as error:
            sleep(_pause(error, delays, retry_if))


async def retry_async(
    call: Callable[[], Awaitable[T]],
    policy: Backoff,
    deadline: float | None = None,
    retry_if: Callable[[Exception], bool] = retryable,
) -> T:
    """`retry_call` for coroutines: awaits `call()` and pauses with `asyncio.sleep`."""
    delays = policy.delays(deadline)
    while True:
        try:
            return await call()
        except Exception as error:
            await asyncio.sleep(_pause(error, delays, retry_if))


class TokenBucket:
    """Allows `rate` calls per second on average and `burst` at once; thread-safe.

    Args:
        rate: tokens added per second; 0 or less means unlimited.
        burst: bucket size, tokens (at least 1).
        clock: monotonic clock, seconds.
    """

    def __init__(
        self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = max(float(burst), 1.0)
        self._tokens = self.burst
        self._clock = clock
        self._stamp = clock()
        self._lock = threading.Lock()

    def take(self) -> float:
        """Take one token: 0.0 when taken, else the seconds until one is available (nothing is
        taken then)."""
        if self.rate <= 0:
            return 0.0
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return 0.0
            return (1.0 - self._tokens) / self.rate

    def wait(self, stop: threading.Event) -> bool:
        """Block until a token is taken (True) or `stop` is set (False)."""
        while (delay := self.take()) > 0:
            if stop.wait(delay):
                return False
        return True
