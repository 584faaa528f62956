"""Timing helpers shared by the benchmarks."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

import numpy as np


def latencies(call: Callable[[], object], n: int, warmup: int = 5) -> np.ndarray:
    """Seconds taken by each of `n` sequential calls, after `warmup` unmeasured ones."""
    for _ in range(warmup):
        call()
    out = np.empty(n)
    for i in range(n):
        t0 = time.perf_counter()
        call()
        out[i] = time.perf_counter() - t0
    return out


def throughput(calls: Sequence[Callable[[], object]], seconds: float) -> float:
    """Calls per second completed by one thread per entry of `calls`, each calling its own
    callable as fast as it can for `seconds`."""
    for call in calls:
        call()
    stop = threading.Event()
    counts = [0] * len(calls)

    def run(i: int) -> None:
        while not stop.is_set():
            calls[i]()
            counts[i] += 1

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    return sum(counts) / (time.perf_counter() - t0)
