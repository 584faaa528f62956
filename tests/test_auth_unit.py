"""Token bucket and key file handling."""

from __future__ import annotations

import pytest

from common.errors import ResourceExhausted, Unauthenticated
from gateway.auth import ApiKeys, TokenBucket, key_digest


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_token_bucket_allows_burst_then_rate():
    clock = Clock()
    bucket = TokenBucket(rate=2.0, burst=3, clock=clock)
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take() == pytest.approx(0.5)
    clock.now += 0.5
    assert bucket.take() == 0.0
    assert TokenBucket(0, 1).take() == 0.0  # unlimited


def test_keys_in_clear_or_hashed_and_reload(tmp_path):
    path = tmp_path / "keys.yaml"
    path.write_text(
        f"tenants:\n  a: {{keys: [k1]}}\n  b: {{keys: ['{key_digest('k2')}'], "
        "rate_per_second: 1, burst: 1}\n"
    )
    keys = ApiKeys(path, reload_seconds=0)
    assert keys.authenticate("k1").name == "a"
    tenant_b = keys.authenticate("k2")
    assert tenant_b.name == "b"
    ApiKeys.admit(tenant_b)
    with pytest.raises(ResourceExhausted):
        ApiKeys.admit(tenant_b)
    with pytest.raises(Unauthenticated):
        keys.authenticate("k3")
    import os

    path.write_text("tenants:\n  c: {keys: [k3]}\n")
    os.utime(path, (1, 1))  # a different mtime, whatever the clock resolution
    assert keys.authenticate("k3").name == "c"
    with pytest.raises(Unauthenticated):
        keys.authenticate("k1")
