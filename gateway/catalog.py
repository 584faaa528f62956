"""The capability catalog (vipro.v1.GatewayService) built from the registry."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from gateway.routing import Router, version_key, version_matches
from vipro.v1 import gateway_pb2, gateway_pb2_grpc, registry_pb2


def build_catalog(
    instances: Iterable[registry_pb2.Instance], router: Router, family: str = ""
) -> list[gateway_pb2.CatalogEntry]:
    """Catalog entries, one per capability, versions newest first.

    Args:
        instances: every registered instance, healthy or not.
        router: tells which instances are ejected and which version is the default.
        family: only this family, or all when empty.
    """
    entries: dict[str, gateway_pb2.CatalogEntry] = {}
    versions: dict[tuple[str, str], gateway_pb2.CapabilityVersion] = {}
    for inst in instances:
        for decl in inst.capabilities:
            cap_family = decl.name.split(".", 1)[0]
            if family and cap_family != family:
                continue
            entry = entries.setdefault(
                decl.name,
                gateway_pb2.CatalogEntry(
                    name=decl.name,
                    family=cap_family,
                    method=decl.method,
                    idempotent=decl.idempotent,
                ),
            )
            version = versions.get((decl.name, decl.version))
            if version is None:
                version = entry.versions.add(
                    version=decl.version,
                    stage=decl.stage or registry_pb2.STAGE_GA,
                    description=decl.description,
                )
                versions[(decl.name, decl.version)] = version
            version.instances += 1
            if inst.healthy and not router.is_ejected(inst.instance_id):
                version.healthy_instances += 1
    for entry in entries.values():
        ordered = sorted(entry.versions, key=lambda v: version_key(v.version), reverse=True)
        default = _default_version(entry.name, ordered, router.defaults)
        del entry.versions[:]
        for v in ordered:
            v.is_default = v.version == default
            entry.versions.append(v)
    return [entries[name] for name in sorted(entries)]


def _default_version(name: str, ordered, defaults: dict[str, str]) -> str:
    pin = defaults.get(name, "")
    for v in ordered:
        if pin and version_matches(v.version, pin):
            return v.version
        if not pin and v.stage == registry_pb2.STAGE_GA and v.healthy_instances:
            return v.version
    return ""


class GatewayServicer(gateway_pb2_grpc.GatewayServiceServicer):
    """vipro.v1.GatewayService (asyncio server)."""

    def __init__(self, instances: Callable[[], list[registry_pb2.Instance]], router: Router):
        self.instances = instances
        self.router = router

    async def ListCapabilities(self, request, context):
        return gateway_pb2.ListCapabilitiesResponse(
            capabilities=build_catalog(self.instances(), self.router, request.family)
        )
