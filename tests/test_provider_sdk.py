"""The provider SDK's declarations: names and message types checked when a module is imported,
and resources set up before serving, reached from handlers, torn down on stop."""

from __future__ import annotations

import importlib.util
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from common.provider import CallContext, Provider, Resource, capability
from vipro.v1 import common_pb2, editing_pb2, editing_pb2_grpc


def import_module(folder: Path, source: str):
    """Import ``source`` as a new module file, the way a provider's module is imported."""
    path = folder / "provider_module.py"
    path.write_text(textwrap.dedent(source))
    spec = importlib.util.spec_from_file_location("provider_module", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules.pop("provider_module", None)
    spec.loader.exec_module(module)
    return module


def test_a_misspelt_capability_fails_at_import_naming_the_close_rpc(tmp_path):
    source = """
        from common.provider import capability

        @capability("editing.ConvertImages")
        def convert_images(request, ctx):
            return None
    """
    with pytest.raises(ValueError) as failure:
        import_module(tmp_path, source)
    assert str(failure.value) == (
        "capability editing.ConvertImages: vipro.v1.EditingService has no RPC ConvertImages; "
        "did you mean editing.ConvertImage, editing.CompositeImages?"
    )


def test_a_handler_annotated_with_another_rpcs_messages_fails_at_import(tmp_path):
    source = """
        from __future__ import annotations

        from common.provider import capability
        from vipro.v1 import editing_pb2

        @capability("editing.EraseImage")
        def erase_image(
            request: editing_pb2.ConvertImageRequest, ctx
        ) -> editing_pb2.EraseImageResponse:
            return editing_pb2.EraseImageResponse()
    """
    with pytest.raises(ValueError, match=r"declares its request as vipro\.v1\.ConvertImageRequest"):
        import_module(tmp_path, source)


def test_a_wrong_response_type_fails_and_matching_types_pass():
    def wrong(request: editing_pb2.ConvertImageRequest, ctx) -> editing_pb2.EraseImageResponse:
        raise AssertionError("never called")

    def right(request: editing_pb2.ConvertImageRequest, ctx) -> editing_pb2.ConvertImageResponse:
        raise AssertionError("never called")

    with pytest.raises(ValueError, match=r"declares its response as vipro\.v1\.EraseImageResponse"):
        capability("editing.ConvertImage")(wrong)
    assert capability("editing.ConvertImage")(right).rpc == "ConvertImage"


EVENTS: list[str] = []


def open_fonts() -> dict:
    EVENTS.append("fonts up")
    return {"width": 7}


def open_index() -> list:
    EVENTS.append("index up")
    return [3]


FONTS = Resource("fonts", open_fonts, lambda value: EVENTS.append("fonts down"))
INDEX = Resource("index", open_index, lambda value: EVENTS.append("index down"))


@capability("editing.ConvertImage", resources=(FONTS, INDEX))
def measure(
    request: editing_pb2.ConvertImageRequest, ctx: CallContext
) -> editing_pb2.ConvertImageResponse:
    """Answers from its resources; asking for one it did not declare is a KeyError."""
    try:
        ctx.resource("templates")
    except KeyError:
        pass
    else:
        raise AssertionError("an undeclared resource was handed out")
    return editing_pb2.ConvertImageResponse(
        width=ctx.resource("fonts")["width"], height=ctx.resource("index")[0]
    )


@capability("editing.EraseImage", resources=(FONTS,))
def share(
    request: editing_pb2.EraseImageRequest, ctx: CallContext
) -> editing_pb2.EraseImageResponse:
    return editing_pb2.EraseImageResponse()


@pytest.fixture
def provider() -> Iterator[Provider]:
    EVENTS.clear()
    provider = Provider("resources-test", [measure, share])
    yield provider
    provider.stop(grace=1)


def test_resources_are_set_up_once_before_serving_and_torn_down_in_reverse(provider):
    assert EVENTS == []  # declaring costs nothing: set-up happens when the provider starts
    port = provider.start(port=0, metrics_port=None)
    assert EVENTS == ["fonts up", "index up"]  # the shared resource once
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        reply = editing_pb2_grpc.EditingServiceStub(channel).ConvertImage(
            editing_pb2.ConvertImageRequest(image=common_pb2.Image(inline=b"x"), width=1, height=1),
            timeout=10,
        )
    assert (reply.width, reply.height) == (7, 3)
    provider.stop(grace=1)
    assert EVENTS == ["fonts up", "index up", "index down", "fonts down"]


def test_two_different_resources_with_one_name_are_refused():
    other = Resource("fonts", dict)

    @capability("editing.EraseVideo", resources=(other,))
    def clash(request, ctx):
        raise AssertionError("never called")

    with pytest.raises(ValueError, match="two different resources named fonts"):
        Provider("clash", [measure, clash])
