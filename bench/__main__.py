"""Run every benchmark: ``python -m bench [name ...]``."""

import sys

from bench import (
    banners,
    erase,
    fuzz,
    gateway_overhead,
    insertion_slots,
    interpolation,
    memory,
    segmentation,
    shots,
    summary,
    triton_overhead,
)

BENCHMARKS = {
    "gateway_overhead": gateway_overhead.main,
    "triton_overhead": triton_overhead.main,
    "segmentation": segmentation.main,
    "insertion_slots": insertion_slots.main,
    "erase": erase.main,
    "memory": memory.main,
    "fuzz": fuzz.main,
    "banners": banners.main,
    "shots": shots.main,
    "interpolation": interpolation.main,
    "summary": summary.main,
}

if __name__ == "__main__":
    for name in sys.argv[1:] or BENCHMARKS:
        print(BENCHMARKS[name]().read_text())
