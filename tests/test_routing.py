"""Router: version/stage choice, balancing and outlier ejection, with a fake clock."""

from __future__ import annotations

import pytest

from common.errors import FailedPrecondition, NotFound, Unavailable, Unimplemented
from gateway.config import Ejection
from gateway.routing import Router, version_key
from vipro.v1 import registry_pb2

METHOD = "/vipro.v1.EditingService/ConvertImage"


def instance(iid: str, version: str = "1.0.0", stage=registry_pb2.STAGE_GA, healthy=True):
    return registry_pb2.Instance(
        instance_id=iid,
        services=["vipro.v1.EditingService"],
        address=f"{iid}:1",
        healthy=healthy,
        capabilities=[
            registry_pb2.CapabilityDeclaration(
                name="editing.ConvertImage", method=METHOD, version=version, stage=stage
            )
        ],
    )


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def router(instances, clock=None, **kwargs) -> Router:
    return Router(
        lambda: instances, lambda: 1, Ejection(3, 2.0, 60.0), clock=clock or Clock(), **kwargs
    )


def test_version_order():
    assert sorted(["1.10.0", "1.9.2", "2.0.0", "1.9.10"], key=version_key) == [
        "1.9.2",
        "1.9.10",
        "1.10.0",
        "2.0.0",
    ]


def test_default_is_newest_ga_and_pins_select():
    r = router(
        [
            instance("a", "1.2.0"),
            instance("b", "1.10.0"),
            instance("c", "2.0.0", registry_pb2.STAGE_EXPERIMENTAL),
            instance("d", "0.9.0", registry_pb2.STAGE_DEPRECATED),
        ]
    )
    assert r.pick(METHOD).instance_id == "b"
    assert r.pick(METHOD, pin="1.2").instance_id == "a"
    assert r.pick(METHOD, pin="2").instance_id == "c"
    assert r.pick(METHOD, stage="experimental").instance_id == "c"
    assert r.pick(METHOD, stage="deprecated").instance_id == "d"
    with pytest.raises(NotFound):
        r.pick(METHOD, pin="3")


def test_configured_default_version_wins():
    r = router(
        [instance("a", "1.2.0"), instance("b", "1.10.0")], defaults={"editing.ConvertImage": "1.2"}
    )
    assert r.pick(METHOD).instance_id == "a"


def test_experimental_only_needs_an_explicit_choice():
    r = router([instance("c", "2.0.0", registry_pb2.STAGE_EXPERIMENTAL)])
    with pytest.raises(FailedPrecondition, match="experimental"):
        r.pick(METHOD)


def test_deprecated_serves_when_nothing_else_exists():
    r = router([instance("d", "0.9.0", registry_pb2.STAGE_DEPRECATED)])
    assert r.pick(METHOD).instance_id == "d"


def test_unhealthy_and_unknown():
    with pytest.raises(Unimplemented, match=r"editing\.ConvertImage"):
        router([instance("a", healthy=False)]).pick(METHOD)
    with pytest.raises(Unimplemented):
        router([]).pick("/vipro.v1.EditingService/Nothing")


def test_family_instance_answers_rpcs_nobody_declares():
    route = router([instance("a")]).pick("/vipro.v1.EditingService/EraseImage")
    assert route.instance_id == "a" and route.declaration is None


def test_least_outstanding_prefers_the_idle_instance():
    r = router([instance("a"), instance("b")])
    busy = r.pick(METHOD)
    r.begin(busy)
    for _ in range(5):
        assert r.pick(METHOD).instance_id != busy.instance_id


def test_round_robin_alternates():
    r = router([instance("a"), instance("b")], balancer="round_robin")
    assert {r.pick(METHOD).instance_id for _ in range(4)} == {"a", "b"}


def test_ejection_after_consecutive_failures_and_readmission():
    clock = Clock()
    r = router([instance("a"), instance("b")], clock=clock)
    route_a = next(x for x in (r.pick(METHOD) for _ in range(4)) if x.instance_id == "a")
    for _ in range(3):
        r.begin(route_a)
        r.end(route_a, reachable=False)
    assert r.is_ejected("a")
    assert {r.pick(METHOD).instance_id for _ in range(6)} == {"b"}
    clock.now += 2.1  # base ejection time passed: re-admitted
    assert not r.is_ejected("a")
    r.begin(route_a)
    r.end(route_a, reachable=False)  # one more failure ejects again, for twice as long
    assert r.is_ejected("a")
    clock.now += 2.1
    assert r.is_ejected("a")
    clock.now += 2.0
    assert not r.is_ejected("a")


def test_all_ejected_still_tries_one_and_exclusion_exhausts():
    r = router([instance("a")])
    route = r.pick(METHOD)
    for _ in range(3):
        r.begin(route)
        r.end(route, reachable=False)
    assert r.pick(METHOD).instance_id == "a"  # panic mode: better than failing outright
    with pytest.raises(Unavailable):
        r.pick(METHOD, exclude=frozenset({"a"}))


def test_thousands_of_ejections_stay_unavailable_and_recover():
    """2**1024 overflowed a float after 1,024 ejections: every later outage became INTERNAL."""
    clock = Clock()
    r = router([instance("a")], clock=clock)
    route = r.pick(METHOD)
    for _ in range(5000):
        r.begin(route)
        r.end(route, reachable=False)
    assert r.is_ejected("a")
    with pytest.raises(Unavailable):
        r.pick(METHOD, exclude=frozenset({"a"}))
    clock.now += 60.1  # never longer than max_seconds
    assert not r.is_ejected("a")
    r.begin(route)
    r.end(route, reachable=True)
    for _ in range(100):  # the instance serves again: a few successes forget the ejections
        r.begin(route)
        r.end(route, reachable=True)
    r.begin(route)
    r.end(route, reachable=False)
    r.begin(route)
    r.end(route, reachable=False)
    assert not r.is_ejected("a")  # back to needing consecutive failures
