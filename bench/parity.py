"""The service-level rows of the erase and segmentation benchmarks, as JSON, for comparing two
checkouts of ViPro (a refactor must not move them).

Run it from each checkout with that checkout's own virtualenv, alternating the order between
rounds so both see similar machine load::

    git worktree add --detach /tmp/before <rev> && (cd /tmp/before && make venv models)
    cd /tmp/before && .venv/bin/python -m bench.parity erase /tmp/erase-before.json
    cd /work/main  && .venv/bin/python -m bench.parity erase /tmp/erase-after.json
    ... then `segmentation` likewise.

``erase``: EraseVideo through a fresh mesh (bench/erase.py tables 4 and 2, in that order, and
the editing service's peak RSS after them). ``segmentation``: SegmentObject through the
gateway (bench/segmentation.py table 4). The load average is recorded at both ends.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def plain(value):
    """A JSON-friendly value (numpy scalars become Python numbers)."""
    return value.item() if isinstance(value, np.generic) else value


def rows(table: list[list]) -> list[list]:
    return [[plain(v) for v in row] for row in table]


def measure(kind: str) -> dict:
    """The rows of one benchmark, with where and under what load they were measured."""
    result = {
        "kind": kind,
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip(),
        "load_start": os.getloadavg(),
    }
    t0 = time.time()
    if kind == "erase":
        from bench import erase

        with erase.served() as mesh:
            result["memory_rows"] = rows(erase.memory_rows(mesh))
            result["video_rows"] = rows(erase.video_rows(mesh))
            result["peak_rss_mb"] = erase.peak_rss_mb(mesh.editing_pid)
    elif kind == "segmentation":
        from bench import segmentation

        result["gateway_rows"] = rows(segmentation.gateway_rows())
    else:
        raise SystemExit(f"unknown benchmark {kind!r}: erase or segmentation")
    result["seconds"] = time.time() - t0
    result["load_end"] = os.getloadavg()
    return result


if __name__ == "__main__":
    kind, out = sys.argv[1], Path(sys.argv[2])
    out.write_text(json.dumps(measure(kind), indent=1) + "\n")
    print(out.read_text())
