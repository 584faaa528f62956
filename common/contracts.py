"""Looking up ViPro contracts (services, methods, messages) in the protobuf descriptor pool."""

from __future__ import annotations

import functools
import importlib
import pkgutil

from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor

import vipro.v1
from vipro.v1 import registry_pb2

STAGES = {
    "experimental": registry_pb2.STAGE_EXPERIMENTAL,
    "ga": registry_pb2.STAGE_GA,
    "deprecated": registry_pb2.STAGE_DEPRECATED,
}
"""Stage names used in headers and declarations, and their enum values."""


@functools.cache
def load_all() -> None:
    """Import every generated vipro.v1 module so the default pool knows all contracts."""
    for module in pkgutil.iter_modules(vipro.v1.__path__):
        if module.name.endswith("_pb2"):
            importlib.import_module(f"vipro.v1.{module.name}")


def family_service(family: str) -> str:
    """Full gRPC service name of a family: "editing" -> "vipro.v1.EditingService"."""
    return f"vipro.v1.{family[:1].upper()}{family[1:]}Service"


def method_for(capability: str) -> str:
    """ "editing.ConvertImage" -> "/vipro.v1.EditingService/ConvertImage" (the vipro.v1
    convention); a full "/pkg.Service/Rpc" is returned as is.

    Raises:
        ValueError: neither form.
    """
    if capability.startswith("/"):
        return capability
    family, _, rpc = capability.partition(".")
    if not family or not rpc or "/" in capability:
        raise ValueError(f"{capability!r} is neither /pkg.Service/Rpc nor family.Rpc")
    return f"/{family_service(family)}/{rpc}"


def capability_name(method: str) -> str:
    """ "/vipro.v1.EditingService/ConvertImage" -> "editing.ConvertImage"."""
    service, _, rpc = method.lstrip("/").partition("/")
    return f"{service.rsplit('.', 1)[-1].removesuffix('Service').lower()}.{rpc}"


def find_service(full_name: str) -> ServiceDescriptor:
    """Descriptor of a service.

    Raises:
        KeyError: no such service.
    """
    load_all()
    return descriptor_pool.Default().FindServiceByName(full_name)


def find_method(method: str) -> MethodDescriptor | None:
    """Descriptor of "/pkg.Service/Rpc", or None when no contract defines it."""
    service, _, rpc = method.lstrip("/").partition("/")
    try:
        return find_service(service).methods_by_name[rpc]
    except KeyError:
        return None


def is_idempotent(md: MethodDescriptor) -> bool:
    """Whether the method's contract says repeating it is safe."""
    level = md.GetOptions().idempotency_level
    return level in (
        descriptor_pb2.MethodOptions.IDEMPOTENT,
        descriptor_pb2.MethodOptions.NO_SIDE_EFFECTS,
    )
