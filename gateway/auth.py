"""Tenants: API-key authentication and per-tenant token-bucket rate limits.

The keys file (YAML) maps tenants to keys and limits; keys may be written in clear or as
"sha256:<hex>" of the key. It is re-read when it changes::

    tenants:
      acme:                     # name: letters, digits, . _ - (it travels in headers)
        keys: ["sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"]
        rate_per_second: 50     # sustained calls per second (0: unlimited)
        burst: 100              # calls allowed at once
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from common.errors import ResourceExhausted, Unauthenticated
from common.retry import TokenBucket

log = logging.getLogger(__name__)

TENANT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
"""Tenant names travel in gRPC headers and label metrics: ASCII letters, digits, . _ -."""


def key_digest(key: str) -> str:
    """The "sha256:<hex>" form of a key."""
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


@dataclass
class Tenant:
    """A tenant and its limit."""

    name: str
    bucket: TokenBucket


class ApiKeys:
    """API key -> tenant lookup with rate limiting, from a YAML file (see module docstring).

    Args:
        path: the keys file; None allows no key at all.
        reload_seconds: how often to check the file for changes.
    """

    def __init__(self, path: Path | None, reload_seconds: float = 2.0):
        self.path = path
        self._reload_seconds = reload_seconds
        self._checked = 0.0
        self._mtime = -1.0
        self._by_digest: dict[str, Tenant] = {}
        self._tenants: dict[str, Tenant] = {}
        self._maybe_reload(force=True)

    def _maybe_reload(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.path is None or (not force and now - self._checked < self._reload_seconds):
            return
        self._checked = now
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            return
        if mtime == self._mtime:
            return
        try:
            by_digest, tenants = self._parse(yaml.safe_load(self.path.read_text()) or {})
        except (ValueError, yaml.YAMLError) as exc:
            if force:
                raise
            log.error("keeping the previous API keys: %s is invalid: %s", self.path, exc)
            self._mtime = mtime
            return
        self._by_digest, self._tenants, self._mtime = by_digest, tenants, mtime

    def _parse(self, raw: dict) -> tuple[dict[str, Tenant], dict[str, Tenant]]:
        by_digest: dict[str, Tenant] = {}
        tenants: dict[str, Tenant] = {}
        for name, spec in (raw.get("tenants") or {}).items():
            if not isinstance(name, str) or not TENANT_NAME.fullmatch(name):
                raise ValueError(f"tenant name {name!r} must match {TENANT_NAME.pattern}")
            spec = spec or {}
            old = self._tenants.get(name)
            rate = float(spec.get("rate_per_second", 0))
            burst = float(spec.get("burst", max(rate, 1.0)))
            if old and (old.bucket.rate, old.bucket.burst) == (rate, max(burst, 1.0)):
                tenant = old
            else:
                tenant = Tenant(name, TokenBucket(rate, burst))
            tenants[name] = tenant
            for key in spec.get("keys") or []:
                digest = key if key.startswith("sha256:") else key_digest(key)
                by_digest[digest] = tenant
        return by_digest, tenants

    def authenticate(self, key: str) -> Tenant:
        """The tenant of `key`.

        Raises:
            Unauthenticated: missing or unknown key.
        """
        if not key:
            raise Unauthenticated("missing API key: send it in the x-api-key header")
        self._maybe_reload()
        tenant = self._by_digest.get(key_digest(key))
        if tenant is None:
            raise Unauthenticated("unknown API key")
        return tenant

    @staticmethod
    def admit(tenant: Tenant) -> None:
        """Take one call from the tenant's rate limit.

        Raises:
            ResourceExhausted: over the limit, with RetryInfo saying when to retry.
        """
        wait = tenant.bucket.take()
        if wait > 0:
            raise ResourceExhausted(
                f"tenant {tenant.name} is over its rate limit of "
                f"{tenant.bucket.rate:g} calls per second",
                subject=f"tenant:{tenant.name}",
                description="calls per second",
                retry_after_seconds=wait,
            )
