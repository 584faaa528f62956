"""Memory-aware admission: a call is let in only when the memory it will need fits.

A capability declares what one call costs (`MemoryCost`: bytes per input pixel plus a fixed
part, measured by ``python -m bench memory``). Its process has a `MemoryBudget`. Before an input
is decoded, the call reserves its cost against the budget: a request that could never fit is
refused at once (RESOURCE_EXHAUSTED with a QuotaFailure naming the limit), one that does not fit
*now* waits for running calls to finish and is refused with a RetryInfo when it cannot get in
before its deadline. Decoding, not the header, is what takes the memory, so a 15 KB file that
claims 10000 x 10000 pixels is refused before a byte of pixels is allocated.
"""

from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from common.errors import ResourceExhausted

MAX_WAIT_SECONDS = 10.0
"""Longest a call waits for memory held by other calls (less when its deadline is nearer)."""


@dataclass(frozen=True)
class MemoryCost:
    """Peak memory of one call: ``fixed + per_pixel * pixels`` bytes, where `pixels` is the
    input image's pixel count (a video frame's, for video capabilities).

    Attributes:
        per_pixel: bytes per input pixel (e.g. 3 for an RGB copy, ~60 for matting).
        fixed: bytes independent of the input.
    """

    per_pixel: float
    fixed: int = 0

    def bytes_for(self, pixels: int) -> int:
        return int(self.fixed + self.per_pixel * pixels)


def _gib(n: float) -> str:
    return f"{n / (1 << 30):.2f} GiB"


class MemoryBudget:
    """Bytes that the calls of one process may hold at once.

    Args:
        total: the budget in bytes.
    """

    def __init__(self, total: int):
        if total <= 0:
            raise ValueError(f"a memory budget must be positive, got {total}")
        self.total = total
        self.reserved = 0
        self._free = threading.Condition()

    def reserve(self, nbytes: int, subject: str, deadline_seconds: float | None = None) -> int:
        """Take `nbytes` of the budget, waiting (at most MAX_WAIT_SECONDS, and not past the
        caller's deadline) for other calls to give memory back; returns `nbytes`.

        Raises:
            ResourceExhausted: more than the whole budget (QuotaFailure on `subject`), or not
                free in time (with RetryInfo).
        """
        if nbytes > self.total:
            raise ResourceExhausted(
                f"{subject} needs about {_gib(nbytes)} of memory, more than this instance's "
                f"budget of {_gib(self.total)}: send a smaller input",
                subject=subject,
            )
        wait = (
            MAX_WAIT_SECONDS
            if deadline_seconds is None
            else min(deadline_seconds, MAX_WAIT_SECONDS)
        )
        until = time.monotonic() + max(wait, 0.0)
        with self._free:
            while self.reserved + nbytes > self.total:
                left = until - time.monotonic()
                if left <= 0:
                    raise ResourceExhausted(
                        f"{subject} needs about {_gib(nbytes)} of memory and this instance's "
                        f"{_gib(self.total)} are held by running calls: retry shortly",
                        subject=subject,
                        retry_after_seconds=1.0,
                    )
                self._free.wait(left)
            self.reserved += nbytes
        return nbytes

    def release(self, nbytes: int) -> None:
        """Give back what `reserve` took."""
        with self._free:
            self.reserved -= nbytes
            self._free.notify_all()


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)


def parse_bytes(text: str) -> int:
    """ "6G", "512MiB", "1073741824" -> bytes (powers of 1024).

    Raises:
        ValueError: not a size.
    """
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a size such as 4G, 512M or 1073741824")
    number, unit = match.groups()
    power = "kmgt".index(unit.lower()) + 1 if unit else 0
    return int(float(number) * 1024**power)


def machine_memory() -> int:
    """Memory this process may use: the cgroup limit when there is one, else physical RAM."""
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(limit_file).read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            return min(int(text), physical)
    return physical


def default_budget() -> int:
    """$VIPRO_MEMORY_BUDGET (e.g. "6G"), else a quarter of `machine_memory`: a mesh runs
    several services and Triton on one machine."""
    configured = os.environ.get("VIPRO_MEMORY_BUDGET", "")
    return parse_bytes(configured) if configured else machine_memory() // 4
