"""Every family's contract is enforced through the gateway, implemented or not."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2

from common.contracts import family_service, find_service
from common.errors import decode_details
from common.mesh import FAMILIES
from common.validation import validate

# One malformed request per family: required fields missing and a limit broken.
MALFORMED = {
    "editing": ("ConvertImage", {"width": 20000}, {"image", "width"}),
    "segmentation": ("SegmentObject", {}, {"image"}),
    "generation": ("SummarizeVideo", {}, {"video"}),
    "enhancement": ("Denoise", {}, {"image"}),
    "manufacturing": ("TransferPrint", {}, {"garment"}),
    "search": ("Query", {"top_k": 1000}, {"query", "top_k"}),
}


def _message(family: str, rpc: str, fields: dict):
    from google.protobuf import message_factory

    md = find_service(family_service(family)).methods_by_name[rpc]
    return message_factory.GetMessageClass(md.input_type)(**fields), md


@pytest.mark.parametrize("family", FAMILIES)
def test_malformed_request_gets_field_violations(channel, family):
    rpc, fields, expected = MALFORMED[family]
    request, _md = _message(family, rpc, fields)
    reported = {v.field.split(".")[0].split("[")[0] for v in validate(request)}
    assert expected <= reported, f"test data out of date for {family}: {reported}"
    call = channel.unary_unary(
        f"/{family_service(family)}/{rpc}",
        request_serializer=type(request).SerializeToString,
    )
    with pytest.raises(grpc.RpcError) as info:
        call(request, timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    bad = [d for d in decode_details(info.value) if isinstance(d, error_details_pb2.BadRequest)]
    assert bad, "INVALID_ARGUMENT must carry a BadRequest detail"
    fields_reported = {v.field.split(".")[0].split("[")[0] for v in bad[0].field_violations}
    assert expected <= fields_reported


def test_unimplemented_rpc_names_its_capability(channel):
    from vipro.v1 import manufacturing_pb2, manufacturing_pb2_grpc

    stub = manufacturing_pb2_grpc.ManufacturingServiceStub(channel)
    request = manufacturing_pb2.DraftPatternRequest(garment=manufacturing_pb2.GARMENT_TYPE_T_SHIRT)
    with pytest.raises(grpc.RpcError) as info:
        stub.DraftPattern(request, timeout=10)
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "manufacturing.DraftPattern" in info.value.details()


def test_every_family_rpc_has_request_and_response_messages_documented():
    for family in FAMILIES:
        service = find_service(family_service(family))
        assert service.methods, family
        for md in service.methods:
            assert md.input_type.name == f"{md.name}Request"
            assert md.output_type.name == f"{md.name}Response"


def test_a_misspelt_capability_fails_when_it_is_declared():
    """It used to start serving and fail at registration with a bare KeyError."""
    from common.provider import capability

    def handler(request, ctx):
        raise AssertionError("never called")

    with pytest.raises(
        ValueError, match=r"no RPC ConvertImages; did you mean editing\.ConvertImage"
    ):
        capability("editing.ConvertImages")(handler)
    with pytest.raises(ValueError, match=r"no contract defines service vipro\.v1\.EditngService"):
        capability("editng.ConvertImage")(handler)
    with pytest.raises(ValueError, match=r"is not <family>\.<Rpc>"):
        capability("ConvertImage")(handler)
    assert capability("editing.ConvertImage")(handler).method == (
        "/vipro.v1.EditingService/ConvertImage"
    )
