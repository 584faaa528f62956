"""A bounded fuzz run on every `make test`: seeded cases across every served capability and the
gateway's own RPCs (bench/fuzz.py writes them), through a real mesh with Triton."""

from __future__ import annotations

import pytest

from bench import fuzz

pytestmark = pytest.mark.slow

CASES = 400
BUDGET_MIB = 2048


@pytest.fixture(scope="module")
def fuzz_mesh(tmp_path_factory):
    mesh = fuzz.start_mesh(tmp_path_factory.mktemp("fuzz"), f"{BUDGET_MIB}M")
    try:
        yield mesh
    finally:
        mesh.down()


def test_fuzzed_requests_get_clear_answers_and_nothing_dies(fuzz_mesh):
    at_start = fuzz.process_report(fuzz_mesh)
    results = fuzz.run(fuzz_mesh, CASES, seed=20261202)
    assert results.bad == []  # no INTERNAL or UNKNOWN
    assert results.slow == []
    assert sum(results.codes.values()) == CASES
    assert results.codes["OK"] > CASES // 10  # the seeds reach the algorithms, not only checks
    assert results.codes["INVALID_ARGUMENT"] > CASES // 4
    processes = fuzz.process_report(fuzz_mesh)
    assert all(p["alive"] for p in processes.values()), processes
    services = [n for n in processes if n != "gateway" and "triton" not in n]
    # The budget bounds what calls hold, on top of what the process holds when idle.
    grew = {n: processes[n]["peak_mib"] - at_start[n]["peak_mib"] for n in services}
    assert max(grew.values()) < BUDGET_MIB, grew


def test_the_cases_are_reproducible():
    media = fuzz.media_corpus()
    methods = fuzz.targets()
    one, two = fuzz.Fuzzer(5, media), fuzz.Fuzzer(5, media)
    first = [one.request(m) for m in methods * 3]
    assert first == [two.request(m) for m in methods * 3]
    assert first != [fuzz.Fuzzer(6, media).request(m) for m in methods * 3]
