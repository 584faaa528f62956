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
``internal_token_file``. A null or negative ``metrics_port`` serves no metrics.

Every value is checked against its field's type when the file is read: an unknown key or a value
of the wrong type raises `ConfigError` naming its key path, e.g.
``jobs.workers: expected an integer, got 'four'``.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

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
    metrics_port: int | None = 9400
    state_dir: Path = Path(".vipro/gateway")
    registry: str = "embedded"
    registry_ttl_seconds: int = 10
    api_keys_file: Path | None = None
    internal_token_file: Path | None = None
    internal_token: str = ""
    default_deadline_seconds: float = 60.0
    retry_attempts: int = 3
    balancer: Literal["least_outstanding", "round_robin"] = "least_outstanding"
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
        """Read a YAML file (None gives the defaults) and resolve the internal token.

        Raises:
            ConfigError: an unknown key or a value of the wrong type (the message names the
                file and the key path).
        """
        raw = yaml.safe_load(path.read_text()) if path else None
        try:
            config = _build(cls, raw, "")
        except ConfigError as err:
            raise ConfigError(f"{path}: {err}") from None
        if not config.internal_token:
            config.internal_token = os.environ.get("VIPRO_INTERNAL_TOKEN", "")
        if not config.internal_token and config.internal_token_file:
            config.internal_token = config.internal_token_file.read_text().strip()
        return config


class ConfigError(ValueError):
    """A configuration key that does not exist, or a value of the wrong type."""


def _build(cls: type, raw: Any, where: str) -> Any:
    """A config dataclass from a YAML mapping (None gives its defaults); `where` is the mapping's
    key path ("" at the top)."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where or 'the file'}: expected a mapping of keys, got {raw!r}")
    hints = typing.get_type_hints(cls)
    known = sorted(f.name for f in fields(cls))
    values = {}
    for key, value in raw.items():
        path = f"{where}.{key}" if where else str(key)
        if key not in hints:
            raise ConfigError(f"{path}: unknown key (known: {', '.join(known)})")
        values[key] = _convert(hints[key], value, path)
    return cls(**values)


_SCALARS: dict[Any, tuple[str, tuple[type, ...]]] = {
    int: ("an integer", (int,)),
    float: ("a number", (int, float)),
    str: ("a string", (str,)),
    Path: ("a path (string)", (str,)),
}
"""What each scalar field type is called in errors, and the YAML types it accepts."""


def _convert(hint: Any, value: Any, path: str) -> Any:
    """`value` as the type `hint`.

    Raises:
        ConfigError: `value` does not fit `hint`.
    """
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, path)
    origin = typing.get_origin(hint)
    if origin is types.UnionType:
        options = [o for o in typing.get_args(hint) if o is not type(None)]
        if value is None:
            return None
        (hint,) = options
        return _convert(hint, value, path)
    if origin is Literal:
        choices = typing.get_args(hint)
        if value not in choices:
            expected = ", ".join(repr(c) for c in choices)
            raise ConfigError(f"{path}: expected one of {expected}, got {value!r}")
        return value
    if origin is dict:
        key_type, value_type = typing.get_args(hint)
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a mapping, got {value!r}")
        return {
            _convert(key_type, k, f"{path}.{k}"): _convert(value_type, v, f"{path}.{k}")
            for k, v in value.items()
        }
    name, accepted = _SCALARS[hint]
    # YAML true/false are ints to Python; a flag is never a number here.
    if isinstance(value, bool) or not isinstance(value, accepted):
        raise ConfigError(f"{path}: expected {name}, got {value!r}")
    return hint(value)
