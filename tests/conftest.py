"""Shared fixtures: a real mesh of processes on loopback, clients, test data."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from common.client import AssetClient, connect
from common.mesh import Mesh
from tests.echo.build import compile_echo
from vipro.v1 import editing_pb2_grpc, generation_pb2_grpc, segmentation_pb2_grpc

TESTS = Path(__file__).resolve().parent
SHARED_DATA = TESTS.parent.parent / "shared" / "data"

LIMITED_KEY = "limited-tenant-key"
OTHER_KEY = "other-tenant-key"


TRITON_FIXTURES = {"vision_mesh", "enhance_mesh", "triton_mesh", "budget_mesh", "fuzz_mesh"}
"""Fixtures that start a real Triton (tens of seconds each)."""
MESH_FIXTURES = {"mesh", "job_mesh", *TRITON_FIXTURES}
"""Fixtures that start gateway and service processes."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests by what they start (their fixtures' closure): `mesh` for processes on
    loopback, `triton` for a Triton server. `make test-fast` runs the rest."""
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        if used & MESH_FIXTURES:
            item.add_marker(pytest.mark.mesh)
        if used & TRITON_FIXTURES:
            item.add_marker(pytest.mark.triton)


def shared_data(*parts: str) -> Path:
    """A path under ../shared/data, skipping the test when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not present (development data is not part of the repository)")
    return path


@pytest.fixture(scope="session")
def echo_pythonpath(tmp_path_factory) -> str:
    """PYTHONPATH of the echo provider (tests/echo), its contract compiled for this session."""
    return compile_echo(tmp_path_factory.mktemp("echo_gen"))


@pytest.fixture(scope="session")
def echo_modules(echo_pythonpath):
    """The generated echo modules, imported in the test process."""
    import echo_pb2
    import echo_pb2_grpc

    return echo_pb2, echo_pb2_grpc


def tenants(mesh: Mesh) -> dict:
    return {
        "local": {"keys": [mesh.api_key]},
        "other": {"keys": [OTHER_KEY]},
        "limited": {"keys": [LIMITED_KEY], "rate_per_second": 1, "burst": 2},
    }


@pytest.fixture(scope="session")
def mesh(tmp_path_factory):
    """Gateway plus one instance of every family, as real processes on loopback."""
    home = tmp_path_factory.mktemp("mesh")
    m = Mesh(home, gateway_port=0, metrics_port=0)
    m.write_config()
    m.start_gateway(tenants=tenants(m))
    try:
        m.up(triton=False)
        yield m
    finally:
        m.down()


@pytest.fixture(scope="session")
def vision_mesh(tmp_path_factory):
    """A gateway, a real Triton serving the models, and the segmentation and editing services
    (editing calls segmentation for its automatic targets)."""
    m = Mesh(tmp_path_factory.mktemp("vision"), gateway_port=0, metrics_port=0)
    m.write_config()
    try:
        m.start_triton()
        m.start_gateway(tenants=tenants(m))
        m.start_service("segmentation")
        m.start_service("editing")
        yield m
    finally:
        m.down()


@pytest.fixture(scope="session")
def segmentation(vision_mesh):
    """A SegmentationService stub through the vision mesh's gateway."""
    return segmentation_pb2_grpc.SegmentationServiceStub(
        connect(vision_mesh.gateway_address, vision_mesh.api_key)
    )


@pytest.fixture(scope="session")
def vision_editing(vision_mesh):
    """An EditingService stub through the vision mesh's gateway (automatic targets work)."""
    return editing_pb2_grpc.EditingServiceStub(
        connect(vision_mesh.gateway_address, vision_mesh.api_key)
    )


@pytest.fixture(scope="session")
def vision_generation(vision_mesh) -> generation_pb2_grpc.GenerationServiceStub:
    """A GenerationService stub through the vision mesh's gateway (the generation service
    started there on first use: it calls segmentation, editing and Triton)."""
    if "generation" not in vision_mesh.processes:
        vision_mesh.start_service("generation")
    return generation_pb2_grpc.GenerationServiceStub(
        connect(vision_mesh.gateway_address, vision_mesh.api_key)
    )


@pytest.fixture(scope="session")
def channel(mesh) -> grpc.Channel:
    """A channel to the gateway carrying the local tenant's API key."""
    return connect(mesh.gateway_address, mesh.api_key)


@pytest.fixture(scope="session")
def assets(channel) -> AssetClient:
    return AssetClient(channel)


@pytest.fixture(scope="session")
def fit():
    """typography.fit with the installed fonts (skips when they are missing: `make fonts`)."""
    import functools

    from services.generation import typography

    try:
        fonts = typography.installed_fonts()
    except typography.FontsMissing as err:
        pytest.skip(str(err))
    return functools.partial(typography.fit, fonts=fonts)
