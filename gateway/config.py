"""Gateway configuration: a YAML file, every key optional (defaults below).

Example ``gateway.yaml``::

    host: 127.0.0.1
    port: 50051
    metrics_port: 9400
    state_dir: .vipro/gateway          # SQLite databases and the asset store
    registry: embedded                 # or consul://127.0.0.1:8500
    api_keys_file: .vipro/api_keys.yaml
    default_deadline_seconds: 60
    max_concurrent_rpcs: 1000          # more at once are refused with RESOURCE_EXHAUSTED
    max_message_bytes: 33554432        # largest request message; bigger media go as assets
    retry_attempts: 3
    balancer: least_outstanding        # or round_robin
    ejection: {consecutive_failures: 3, base_seconds: 2, max_seconds: 60}
    assets: {max_asset_bytes: 2147483648, max_tenant_bytes: 21474836480}
    jobs: {workers: 4, retention_hours: 72, default_timeout_seconds: 3600}
    capability_defaults: {editing.ConvertImage: "1"}
    recipes_dir: deploy/recipes

The mesh's internal token comes from the VIPRO_INTERNAL_TOKEN environment variable or
``internal_token_file``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Ejection:
    """Outlier ejection: after `consecutive_failures` UNAVAILABLE answers an instance gets no
    traffic for base_seconds * 2^(ejections so far), at most max_seconds, then is re-admitted."""

    consecutive_failures: int = 3
    base_seconds: float = 2.0
    max_seconds: float = 60.0

    def seconds(self, previous: int) -> float:
        """How long an ejection lasts after `previous` ones. The exponent is capped, so any
        count is safe (2.0**1024 overflows a float)."""
        return min(self.base_seconds * 2.0 ** min(previous, 62), self.max_seconds)


@dataclass
class AssetLimits:
    """Asset store limits, bytes."""

    max_asset_bytes: int = 2 << 30
    max_tenant_bytes: int = 20 << 30


@dataclass
class JobSettings:
    """Job runner settings."""

    workers: int = 4
    retention_hours: float = 72.0
    default_timeout_seconds: int = 3600


@dataclass
class GatewayConfig:
    """Everything the gateway process needs; see the module docstring."""

    host: str = "127.0.0.1"
    port: int = 50051
    metrics_port: int = 9400
    state_dir: Path = Path(".vipro/gateway")
    registry: str = "embedded"
    registry_ttl_seconds: int = 10
    api_keys_file: Path | None = None
    internal_token_file: Path | None = None
    internal_token: str = ""
    default_deadline_seconds: float = 60.0
    retry_attempts: int = 3
    balancer: str = "least_outstanding"
    drain_seconds: float = 10.0
    max_concurrent_rpcs: int = 1000
    max_message_bytes: int = 32 << 20
    ejection: Ejection = field(default_factory=Ejection)
    assets: AssetLimits = field(default_factory=AssetLimits)
    jobs: JobSettings = field(default_factory=JobSettings)
    capability_defaults: dict[str, str] = field(default_factory=dict)
    recipes_dir: Path = REPO_ROOT / "deploy" / "recipes"

    @classmethod
    def load(cls, path: Path | None) -> GatewayConfig:
        """Read a YAML file (None gives the defaults) and resolve the internal token."""
        raw = yaml.safe_load(path.read_text()) if path else {}
        config = _build(cls, raw or {})
        if not config.internal_token:
            config.internal_token = os.environ.get("VIPRO_INTERNAL_TOKEN", "")
        if not config.internal_token and config.internal_token_file:
            config.internal_token = config.internal_token_file.read_text().strip()
        return config


_NESTED = {"ejection": Ejection, "assets": AssetLimits, "jobs": JobSettings}


def _build(cls, raw: dict):
    known = {f.name: f for f in fields(cls)}
    unknown = set(raw) - set(known)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} keys: {sorted(unknown)}")
    kwargs = {}
    for key, value in raw.items():
        if key in _NESTED and cls is GatewayConfig:
            value = _build(_NESTED[key], value or {})
        elif key.endswith(("_dir", "_file")) and value is not None:
            value = Path(value)
        kwargs[key] = value
    return cls(**kwargs)
