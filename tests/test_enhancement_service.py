"""enhancement.SuperResolve and enhancement.Denoise through the gateway, on a real Triton."""

from __future__ import annotations

import signal
import time

import cv2
import grpc
import numpy as np
import pytest
from google.rpc import error_details_pb2

from common.client import connect
from common.errors import decode_details
from common.inference import Inference
from common.mesh import Mesh
from common.triton import MODEL_REPOSITORY
from services.enhancement import quality, realesrgan
from tests.conftest import tenants
from tests.helpers import decoded, png
from vipro.v1 import common_pb2, enhancement_pb2, enhancement_pb2_grpc


@pytest.fixture(scope="module")
def enhance_mesh(tmp_path_factory):
    """Triton, the gateway and the enhancement service."""
    mesh = Mesh(tmp_path_factory.mktemp("enhance"), gateway_port=0, metrics_port=0)
    mesh.write_config()
    mesh.start_triton()
    mesh.start_gateway(tenants=tenants(mesh))
    mesh.start_service("enhancement")
    yield mesh
    mesh.down()


@pytest.fixture(scope="module")
def stub(enhance_mesh):
    return enhancement_pb2_grpc.EnhancementServiceStub(
        connect(enhance_mesh.gateway_address, enhance_mesh.api_key)
    )


def photo(height: int = 48, width: int = 64, seed: int = 0) -> np.ndarray:
    """A small natural-looking test image: smooth gradients, edges and texture."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    image = np.stack([x * 3, y * 4, (x + y) * 2], axis=2) % 256
    cv2.circle(image, (width // 2, height // 2), min(height, width) // 3, (240, 60, 30), -1)
    image += rng.normal(0, 4, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def sr_request(pixels, **fields) -> enhancement_pb2.SuperResolveRequest:
    output = common_pb2.OutputOptions(format=common_pb2.IMAGE_FORMAT_PNG)
    return enhancement_pb2.SuperResolveRequest(
        image=common_pb2.Image(inline=png(pixels)), output=output, **fields
    )


def test_realesrgan_on_triton_equals_the_in_process_port(stub):
    pixels = photo()
    reply = stub.SuperResolve(sr_request(pixels, scale=2, model="realesr-animevideov3"), timeout=60)
    served = decoded(reply.image)
    assert served.shape == (96, 128, 3) and reply.model == "realesr-animevideov3"
    module, _ = realesrgan.build_model(
        "realesr-animevideov3-x2", MODEL_REPOSITORY / "realesr_animevideov3_x2" / "1"
    )
    reference = realesrgan.upscale(realesrgan.torch_network(module), pixels, 2)
    assert np.abs(served.astype(int) - reference.astype(int)).max() <= 1


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"scale": 1}, "scale"),
        ({"model": "nope"}, "model"),
        ({"scale": 4, "tile_size": 5000}, "tile_size"),
    ],
)
def test_bad_requests_are_invalid_argument(stub, fields, field):
    with pytest.raises(grpc.RpcError) as info:
        stub.SuperResolve(sr_request(photo(), **fields), timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    bad = [d for d in decode_details(info.value) if isinstance(d, error_details_pb2.BadRequest)]
    assert bad[0].field_violations[0].field == field


def test_missing_model_is_failed_precondition_naming_it(enhance_mesh, stub):
    triton = Inference(enhance_mesh.triton_address)
    triton.unload("realesr_animevideov3_x3")
    try:
        with pytest.raises(grpc.RpcError) as info:
            stub.SuperResolve(
                sr_request(photo(), scale=3, model="realesr-animevideov3"), timeout=30
            )
        assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "realesr_animevideov3_x3" in info.value.details()
    finally:
        triton.load("realesr_animevideov3_x3")
        triton.close()


def test_triton_down_is_unavailable_promptly_then_works_again(enhance_mesh, stub):
    request = sr_request(photo(), scale=2, model="realesr-animevideov3")
    stub.SuperResolve(request, timeout=60)
    before = enhance_mesh.processes["triton"]
    enhance_mesh.stop("triton", sig=signal.SIGKILL)
    t0 = time.monotonic()
    with pytest.raises(grpc.RpcError) as info:
        stub.SuperResolve(request, timeout=30)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "Triton" in info.value.details()
    assert time.monotonic() - t0 < 5.0
    enhance_mesh.start_triton(before.http_port, before.port, before.metrics_port)
    deadline = time.monotonic() + 15
    while True:  # the same service process, never restarted
        try:
            reply = stub.SuperResolve(request, timeout=60)
            break
        except grpc.RpcError as err:
            assert err.code() == grpc.StatusCode.UNAVAILABLE
            assert time.monotonic() < deadline, "service did not recover after Triton came back"
            time.sleep(0.5)
    assert decoded(reply.image).shape == (96, 128, 3)


def test_vipro_fast_beats_bicubic(stub):
    truth = photo(96, 128, seed=3)
    small = quality.imresize(truth, 0.5)
    reply = stub.SuperResolve(sr_request(small, scale=2), timeout=60)
    served = decoded(reply.image)
    bicubic = np.clip(quality.imresize(small.astype(np.float64), 2), 0, 255).astype(np.uint8)
    assert reply.model == "vipro-fast"
    assert quality.psnr_y(served, truth, 2) > quality.psnr_y(bicubic, truth, 2) + 0.5


def test_denoise_removes_noise_blind_and_with_sigma(stub):
    clean = cv2.GaussianBlur(photo(96, 128, seed=4), (0, 0), 1.0)
    noisy = np.clip(clean + np.random.default_rng(5).normal(0, 25, clean.shape), 0, 255)
    noisy = noisy.astype(np.uint8)
    before = quality.psnr(noisy, clean)
    for sigma in (25.0, 0.0):
        reply = stub.Denoise(
            enhancement_pb2.DenoiseRequest(
                image=common_pb2.Image(inline=png(noisy)),
                sigma=sigma,
                output=common_pb2.OutputOptions(format=common_pb2.IMAGE_FORMAT_PNG),
            ),
            timeout=60,
        )
        assert quality.psnr(decoded(reply.image), clean) > before + 4.0
        if sigma == 0:
            assert 15 < reply.sigma < 35  # the blind estimate


@pytest.mark.parametrize("shape", [(1, 1), (1, 5), (600, 3)])
def test_tiny_and_thin_pictures_are_upscaled(stub, shape):
    """A 1x1 picture made the luma net fail (INTERNAL): its padding needs 2 pixels a side."""
    pixels = photo(*shape, seed=2)
    reply = stub.SuperResolve(sr_request(pixels, scale=2), timeout=60)
    assert decoded(reply.image).shape == (shape[0] * 2, shape[1] * 2, 3)


def test_large_pictures_are_denoised_in_tiles_equal_to_one_pass(stub):
    """Inputs over 512 px go to Triton in tiles with 64 px of context; the result equals the
    in-process whole-image inference."""
    from services.enhancement import denoising, nets

    clean = cv2.resize(photo(seed=4), (700, 560), interpolation=cv2.INTER_CUBIC)
    noisy = np.clip(clean + np.random.default_rng(1).normal(0, 15, clean.shape), 0, 255)
    noisy = noisy.astype(np.uint8)
    request = enhancement_pb2.DenoiseRequest(
        image=common_pb2.Image(inline=png(noisy)),
        sigma=15,
        output=common_pb2.OutputOptions(format=common_pb2.IMAGE_FORMAT_PNG),
    )
    served = decoded(stub.Denoise(request, timeout=120).image).astype(np.float64)
    whole = denoising.denoise(denoising.torch_network(nets.load_denoiser()), noisy, 15)
    assert np.abs(served - np.clip(whole, 0, 255)).max() <= 1.0  # rounding only
