"""Service registry: one interface, two backends.

* `EmbeddedRegistryClient` talks to the registry the gateway hosts (default on one machine);
  the gateway itself keeps the state in `gateway.registry_store.RegistryStore`.
* `ConsulRegistry` registers with a Consul agent (production).

Both satisfy `Registry`; `tests/test_registry_conformance.py` runs one suite against each.
"""

from __future__ import annotations

from typing import Protocol

from vipro.v1 import registry_pb2


class Registry(Protocol):
    """Where service instances announce themselves and the gateway finds them."""

    def register(self, instance: registry_pb2.Instance, ttl_seconds: int = 10) -> int:
        """Add or replace `instance`; returns the lease length granted, seconds."""
        ...

    def heartbeat(self, instance_id: str) -> None:
        """Renew a lease. Raises `common.errors.NotFound` when the instance must register again."""
        ...

    def deregister(self, instance_id: str) -> bool:
        """Remove an instance at once; False when it was not registered."""
        ...

    def instances(self, service: str = "") -> list[registry_pb2.Instance]:
        """Registered instances (of one gRPC service, or all), each with `healthy` set."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def connect(url: str, internal_token: str = "") -> Registry:
    """Open a registry from a URL.

    Args:
        url: ``embedded://host:port`` (the gateway's embedded registry) or
            ``consul://host:port`` (a Consul agent's HTTP API; ``consul+https://`` for TLS).
        internal_token: the mesh's internal token, sent to the embedded registry.

    Raises:
        ValueError: unknown scheme.
    """
    scheme, _, address = url.partition("://")
    if scheme == "embedded":
        from common.registry.embedded import EmbeddedRegistryClient

        return EmbeddedRegistryClient(address, internal_token)
    if scheme in ("consul", "consul+https"):
        from common.registry.consul import ConsulRegistry

        return ConsulRegistry(address, scheme=("https" if scheme.endswith("https") else "http"))
    raise ValueError(
        f"unknown registry URL {url!r}: use embedded://host:port or consul://host:port"
    )
