"""Choosing an instance for a call: version and stage selection, balancing, outlier ejection.

`Router.pick()` is on every call's path, so it reads a cached index rebuilt only when the
registry's version number changes.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from common.contracts import STAGES, capability_name, method_for
from common.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unavailable,
    Unimplemented,
)
from gateway.config import Ejection
from gateway.metrics import EJECTED, INSTANCE_EJECTIONS, UPSTREAM_IN_FLIGHT
from vipro.v1 import registry_pb2


def version_key(version: str) -> tuple:
    """Sort key of a semantic version: "1.10.0" > "1.9.2"; non-numeric parts sort as text."""
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in version.split("."))


def version_matches(version: str, pin: str) -> bool:
    """True when `version` is `pin` or within it: pin "1" matches "1.4.2", pin "1.4" "1.4.2"."""
    return version == pin or version.startswith(pin + ".")


def _stage(decl: registry_pb2.CapabilityDeclaration) -> int:
    return decl.stage or registry_pb2.STAGE_GA


MAX_EJECTIONS_COUNTED = 64
"""Ejections remembered per instance; more would not lengthen the next one (it is already at
max_seconds) and would only slow re-admission."""


@dataclass
class InstanceState:
    """Per-instance traffic state the gateway keeps (not in the registry)."""

    outstanding: int = 0
    consecutive_failures: int = 0
    ejections: int = 0
    ejected_until: float = 0.0


@dataclass(frozen=True)
class Route:
    """The outcome of a pick: where to send a call and what the instance declared."""

    instance_id: str
    address: str
    declaration: registry_pb2.CapabilityDeclaration | None
    capability: str


@dataclass
class _Index:
    by_method: dict[str, list[tuple[registry_pb2.Instance, registry_pb2.CapabilityDeclaration]]] = (
        field(default_factory=dict)
    )
    by_service: dict[str, list[registry_pb2.Instance]] = field(default_factory=dict)


class Router:
    """Picks instances for calls.

    Args:
        source: returns the registry's instances (with `healthy` set).
        version: returns a number that changes when `source()` would answer differently.
        ejection: outlier-ejection settings.
        defaults: default version pin per capability name.
        balancer: "least_outstanding" (ties round-robin) or "round_robin".
        clock: monotonic clock (tests pass a fake).
    """

    def __init__(
        self,
        source: Callable[[], Iterable[registry_pb2.Instance]],
        version: Callable[[], int],
        ejection: Ejection | None = None,
        defaults: dict[str, str] | None = None,
        balancer: str = "least_outstanding",
        clock: Callable[[], float] = time.monotonic,
    ):
        if balancer not in ("least_outstanding", "round_robin"):
            raise ValueError(f"unknown balancer {balancer!r}")
        self._source = source
        self._version = version
        self._seen_version = -1
        self._index = _Index()
        self.ejection = ejection or Ejection()
        self.defaults = defaults or {}
        self.balancer = balancer
        self._clock = clock
        self._rr = itertools.count()
        self.states: dict[str, InstanceState] = {}
        self.addresses: set[str] = set()
        """host:port of every registered instance (the proxy closes channels to others)."""

    # Index -------------------------------------------------------------------------------
    def refresh(self) -> _Index:
        """The index of healthy instances, rebuilt when the registry changed."""
        version = self._version()
        if version != self._seen_version:
            index = _Index()
            registered = list(self._source())
            for inst in registered:
                if not inst.healthy:
                    continue
                self.states.setdefault(inst.instance_id, InstanceState())
                for decl in inst.capabilities:
                    index.by_method.setdefault(decl.method, []).append((inst, decl))
                for service in inst.services:
                    index.by_service.setdefault(service, []).append(inst)
            self._index = index
            self._seen_version = version
            self.addresses = {inst.address for inst in registered}
            self._forget({inst.instance_id for inst in registered})
        return self._index

    def _forget(self, registered: set[str]) -> None:
        """Drop state and per-instance gauges of instances that left the registry (restarts
        bring new ids; without this the state would grow for ever)."""
        for instance_id in [i for i, st in self.states.items() if i not in registered]:
            if self.states[instance_id].outstanding:
                continue
            del self.states[instance_id]
            for gauge in (EJECTED, UPSTREAM_IN_FLIGHT):
                with contextlib.suppress(KeyError):
                    gauge.remove(instance_id)

    def declaration(self, method: str) -> registry_pb2.CapabilityDeclaration | None:
        """Any healthy instance's declaration of `method`, or None."""
        entries = self.refresh().by_method.get(method)
        return entries[0][1] if entries else None

    def resolve(self, capability_or_method: str) -> str:
        """Full method of "family.Rpc" (as registered, else by the vipro.v1 convention), or the
        argument itself when it already is "/pkg.Service/Rpc".

        Raises:
            InvalidArgument: neither form.
        """
        if not capability_or_method.startswith("/"):
            for entries in self.refresh().by_method.values():
                if entries[0][1].name == capability_or_method:
                    return entries[0][1].method
        try:
            return method_for(capability_or_method)
        except ValueError as exc:
            raise InvalidArgument.field("method", str(exc)) from None

    def serves_service(self, service: str) -> bool:
        """Whether a healthy instance answers the gRPC service."""
        return bool(self.refresh().by_service.get(service))

    # Picking -----------------------------------------------------------------------------
    def pick(
        self, method: str, pin: str = "", stage: str = "", exclude: frozenset[str] = frozenset()
    ) -> Route:
        """Choose an instance for one call.

        Args:
            method: full gRPC method.
            pin: version pin from the vipro-version header ("" for the default).
            stage: stage from the vipro-stage header ("" for ga).
            exclude: instance ids already tried for this call.

        Raises:
            Unimplemented: no instance serves the method or its service.
            NotFound: nothing serves the pinned version.
            FailedPrecondition: only other stages exist (e.g. experimental only).
            Unavailable: instances exist but none can take the call now.
            InvalidArgument: unknown stage name.
        """
        index = self.refresh()
        service = method.lstrip("/").partition("/")[0]
        capability = capability_name(method)
        entries = index.by_method.get(method)
        if not entries:
            # No instance declares it: let an instance of the service answer (it validates the
            # request and names the capability as UNIMPLEMENTED).
            family = [(inst, None) for inst in index.by_service.get(service, [])]
            if not family:
                raise Unimplemented(capability, "is not served by any registered instance")
            return self._choose(family, capability, exclude)
        chosen = self._select_version(entries, capability, pin, stage)
        return self._choose(chosen, capability, exclude)

    def _select_version(self, entries, capability: str, pin: str, stage: str):
        pin = pin or self.defaults.get(capability, "")
        if stage and stage not in STAGES:
            raise InvalidArgument.field(
                "vipro-stage", f"must be one of {sorted(STAGES)}, got {stage!r}"
            )
        served = sorted({d.version for _, d in entries}, key=version_key, reverse=True)
        if pin:
            matching = [(i, d) for i, d in entries if version_matches(d.version, pin)]
            if not matching:
                raise NotFound(f"version {pin} of capability", f"{capability} (served: {served})")
            best = max((d.version for _, d in matching), key=version_key)
            return [(i, d) for i, d in matching if d.version == best]
        wanted = STAGES[stage] if stage else registry_pb2.STAGE_GA
        candidates = [(i, d) for i, d in entries if _stage(d) == wanted]
        if not candidates and not stage:
            candidates = [(i, d) for i, d in entries if _stage(d) == registry_pb2.STAGE_DEPRECATED]
        if not candidates:
            names = {v: k for k, v in STAGES.items()}
            stages = sorted({names[_stage(d)] for _, d in entries})
            raise FailedPrecondition(
                f"capability {capability} has no {stage or 'ga'} version (stages served: "
                f"{', '.join(stages)}); pin one with the vipro-version or vipro-stage header",
                [("STAGE", capability)],
            )
        best = max((d.version for _, d in candidates), key=version_key)
        return [(i, d) for i, d in candidates if d.version == best]

    def _choose(self, entries, capability: str, exclude: frozenset[str]) -> Route:
        now = self._clock()
        usable = [
            (i, d)
            for i, d in entries
            if i.instance_id not in exclude and self.states[i.instance_id].ejected_until <= now
        ]
        if not usable:
            remaining = [(i, d) for i, d in entries if i.instance_id not in exclude]
            if not remaining:
                raise Unavailable(f"no instance of {capability} is left to try")
            # Every instance is ejected: rather than fail, try the one re-admitted soonest.
            usable = [min(remaining, key=lambda e: self.states[e[0].instance_id].ejected_until)]
        turn = next(self._rr)
        if self.balancer == "round_robin":
            inst, decl = usable[turn % len(usable)]
        else:
            low = min(self.states[i.instance_id].outstanding for i, _ in usable)
            ties = [(i, d) for i, d in usable if self.states[i.instance_id].outstanding == low]
            inst, decl = ties[turn % len(ties)]
        return Route(inst.instance_id, inst.address, decl, capability)

    # Outcomes ----------------------------------------------------------------------------
    def begin(self, route: Route) -> None:
        """A call to `route` starts."""
        self.states[route.instance_id].outstanding += 1

    def end(self, route: Route, reachable: bool) -> None:
        """A call to `route` ended; `reachable` False when the instance was UNAVAILABLE."""
        state = self.states[route.instance_id]
        state.outstanding -= 1
        if reachable:
            state.consecutive_failures = 0
            if state.ejections and state.ejected_until <= self._clock():
                state.ejections -= 1
            return
        state.consecutive_failures += 1
        if state.consecutive_failures >= self.ejection.consecutive_failures:
            state.ejected_until = self._clock() + self.ejection.seconds(state.ejections)
            state.ejections = min(state.ejections + 1, MAX_EJECTIONS_COUNTED)
            # One more failure after re-admission ejects again at once.
            state.consecutive_failures = self.ejection.consecutive_failures - 1
            INSTANCE_EJECTIONS.labels(route.instance_id).inc()
        EJECTED.labels(route.instance_id).set(1 if state.ejected_until > self._clock() else 0)

    def is_ejected(self, instance_id: str) -> bool:
        """Whether an instance is currently ejected."""
        state = self.states.get(instance_id)
        return bool(state and state.ejected_until > self._clock())
