"""Fuzzing the mesh from outside: every served capability and the gateway's own unary RPCs.

A seeded `Fuzzer` writes requests from the contracts' descriptors: each field left unset or
given an edge value (0, -1, type limits, NaN, infinities, enum values outside the declared set,
empty and 10 000-character strings, repeated fields over their limit), media fields filled from
a corpus of small valid pictures and videos, truncated and forged files (headers claiming
10000 x 10000 pixels), garbage, empty bytes and asset ids that do not exist; one case in ten has
its serialised bytes truncated, flipped or replaced by noise. Calls go through the gateway with
the tenant's key (one in twenty without), and each answer's status is counted.

What must hold (`check`): no INTERNAL or UNKNOWN answer, no call over 30 s, every process alive
afterwards and none above its memory budget. ``python -m bench fuzz [cases]`` runs 10 000 cases
on a fresh mesh and writes ``bench/results/fuzz.{json,md}``; ``tests/test_fuzz.py`` runs a few
hundred on every ``make test``.
"""

from __future__ import annotations

import io
import random
import struct
import sys
import tempfile
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import av
import cv2
import grpc
import numpy as np
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message
from PIL import Image

from bench import memory, report
from common import triton
from common.client import AssetClient, connect
from common.contracts import find_service
from common.mesh import FAMILIES, Mesh

FORGED_SIDE = 10_000
SLOW_SECONDS = 30.0
BAD_CODES = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}
GATEWAY_METHODS = (
    "/vipro.v1.GatewayService/ListCapabilities",
    "/vipro.v1.AssetService/GetAsset",
    "/vipro.v1.AssetService/ListAssets",
    "/vipro.v1.AssetService/DeleteAsset",
    "/vipro.v1.JobService/SubmitJob",
    "/vipro.v1.JobService/GetJob",
    "/vipro.v1.JobService/CancelJob",
    "/vipro.v1.JobService/ListJobs",
    "/vipro.v1.ProductionService/Produce",
    "/vipro.v1.ProductionService/GetCase",
    "/vipro.v1.ProductionService/ListCases",
)
MEDIA_TYPES = ("vipro.v1.Image", "vipro.v1.Video", "vipro.v1.Audio")


# Media corpus --------------------------------------------------------------------------------
def _png(pixels: np.ndarray) -> bytes:
    return cv2.imencode(".png", pixels)[1].tobytes()


def _video(frames: int = 3, side: int = 32, codec: str = "libx264") -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream(codec, rate=10)
        stream.width = stream.height = side
        stream.pix_fmt = "yuv420p"
        for i in range(frames):
            rgb = np.full((side, side, 3), 40 * i, np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        container.mux(stream.encode(None))
    return buffer.getvalue()


def forged_jpeg() -> bytes:
    """A real 200 x 200 JPEG whose frame header was rewritten to FORGED_SIDE squared (48 KB)."""
    noise = np.random.default_rng(0).integers(0, 255, (200, 200, 3), np.uint8)
    data = bytearray(cv2.imencode(".jpg", noise)[1].tobytes())
    i = 2
    while data[i + 1] not in (0xC0, 0xC2):
        i += 2 + struct.unpack(">H", data[i + 2 : i + 4])[0]
    data[i + 5 : i + 9] = struct.pack(">HH", FORGED_SIDE, FORGED_SIDE)
    return bytes(data)


def _png_file(header: bytes, pixel_data: bytes) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    return b"\x89PNG\r\n\x1a\n" + b"".join(
        chunk(k, b) for k, b in ((b"IHDR", header), (b"IDAT", pixel_data), (b"IEND", b""))
    )


def png_claiming(width: int, height: int, rows: int = 0) -> bytes:
    """An RGB PNG whose header claims width x height, holding only `rows` rows of data."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return _png_file(header, zlib.compress(b"".join(b"\0" + bytes(3 * width) for _ in range(rows))))


def forged_png() -> bytes:
    """A PNG header for FORGED_SIDE squared RGB, with 20 rows of data."""
    return png_claiming(FORGED_SIDE, FORGED_SIDE, 20)


def complete_png() -> bytes:
    """A valid, complete FORGED_SIDE squared grey PNG (about 100 KB: deflate of a flat picture)."""
    rows = zlib.compressobj(9)
    body = b"".join(rows.compress(b"\0" + bytes(FORGED_SIDE)) for _ in range(FORGED_SIDE))
    header = struct.pack(">IIBBBBB", FORGED_SIDE, FORGED_SIDE, 8, 0, 0, 0, 0)
    return _png_file(header, body + rows.flush())


def forged_webp() -> bytes:
    """A lossless 64 x 64 WebP whose VP8L header was rewritten to FORGED_SIDE squared."""
    out = io.BytesIO()
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(out, "WEBP", lossless=True)
    data = bytearray(out.getvalue())
    at = data.find(b"VP8L") + 9
    bits = int.from_bytes(data[at : at + 4], "little") & ~0x0FFFFFFF
    data[at : at + 4] = (bits | (FORGED_SIDE - 1) | ((FORGED_SIDE - 1) << 14)).to_bytes(4, "little")
    return bytes(data)


def forged_tiff() -> bytes:
    """An uncompressed grey TIFF declaring FORGED_SIDE squared in one strip of 100 bytes."""
    side = FORGED_SIDE
    tags = [(256, 4, side), (257, 4, side), (258, 3, 8), (259, 3, 1), (262, 3, 1),
            (273, 4, 8 + 2 + 9 * 12 + 4), (277, 3, 1), (278, 4, side), (279, 4, 100)]  # fmt: skip
    ifd = struct.pack("<H", len(tags)) + b"".join(
        struct.pack("<HHII", tag, kind, 1, value) for tag, kind, value in tags
    )
    return b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0) + bytes(100)


FORGED = {
    "jpeg-forged": forged_jpeg,
    "png-forged": forged_png,
    "png-complete-100mp": complete_png,
    "webp-forged": forged_webp,
    "tiff-forged": forged_tiff,
}
"""Pictures whose headers claim FORGED_SIDE x FORGED_SIDE pixels, each under 200 KB."""


def media_corpus() -> dict[str, bytes]:
    """Named media the fuzzer puts into Image/Video/Audio/Mask fields."""
    rng = np.random.default_rng(7)
    photo = rng.integers(0, 255, (48, 64, 3), np.uint8)
    video = _video()
    return {
        "png": _png(photo),
        "png-rgba": _png(rng.integers(0, 255, (40, 40, 4), np.uint8)),
        "png-grey": _png(rng.integers(0, 255, (33, 17), np.uint8)),
        "jpeg": cv2.imencode(".jpg", photo)[1].tobytes(),
        "webp": cv2.imencode(".webp", photo)[1].tobytes(),
        "png-1x1": _png(np.zeros((1, 1, 3), np.uint8)),
        "png-16bit": cv2.imencode(".png", (photo.astype(np.uint16) * 257))[1].tobytes(),
        "png-truncated": _png(photo)[:200],
        **{name: make() for name, make in FORGED.items()},
        "mp4": video,
        "mp4-truncated": video[: len(video) // 2],
        "mp4-unknown-codec": video.replace(b"avc1", b"zzzz"),
        "garbage": rng.integers(0, 255, 3000, np.uint8).tobytes(),
        "empty": b"",
        "text": b"this is not a picture\n" * 20,
    }


def seeds(media: dict[str, bytes]) -> dict[str, Message]:
    """A valid request per served capability (and for Produce and SubmitJob), which the
    fuzzer mutates a field or two at a time to reach the code behind validation."""
    from google.protobuf import any_pb2

    from vipro.v1 import (
        common_pb2,
        editing_pb2,
        enhancement_pb2,
        jobs_pb2,
        production_pb2,
        segmentation_pb2,
    )

    image = common_pb2.Image(inline=media["png"])
    video = common_pb2.Video(inline=media["mp4"])
    trimap = np.zeros((48, 64), np.uint8)
    trimap[10:40, 10:50], trimap[18:32, 18:42] = 128, 255
    box = common_pb2.Box(x=4, y=4, width=20, height=10)
    convert = editing_pb2.ConvertImageRequest(image=image, width=32)
    packed = any_pb2.Any()
    packed.Pack(convert)
    produce = production_pb2.ProduceRequest(type=production_pb2.PRODUCTION_TYPE_GENERAL)
    produce.materials.add(name="p", role="product", image=image)
    produce.params.update({"sizes": [{"width": 30, "height": 20}]})
    requests = [
        convert,
        editing_pb2.EraseImageRequest(image=image, region=editing_pb2.EraseRegion(boxes=[box])),
        editing_pb2.EraseVideoRequest(video=video, region=editing_pb2.EraseRegion(boxes=[box])),
        segmentation_pb2.SegmentObjectRequest(image=image),
        segmentation_pb2.SegmentPersonRequest(image=image),
        segmentation_pb2.DetectTextRequest(image=image, recognize=True),
        segmentation_pb2.DetectFacesRequest(image=image),
        segmentation_pb2.MatteRequest(
            image=image, trimap=common_pb2.Mask(image=common_pb2.Image(inline=_png(trimap)))
        ),
        segmentation_pb2.DetectInsertionSlotsRequest(image=image),
        enhancement_pb2.SuperResolveRequest(image=image, scale=2),
        enhancement_pb2.DenoiseRequest(image=image, sigma=10),
        jobs_pb2.SubmitJobRequest(method="editing.ConvertImage", request=packed),
        produce,
    ]
    return {r.DESCRIPTOR.full_name: r for r in requests}


# Requests --------------------------------------------------------------------------------------
_INTS = (0, 1, -1, 2, 3, 7, 64, 100, 1000, 4096, 65535, 2**31 - 1, -(2**31), 2**32 - 1, 2**63 - 1)
_FLOATS = (0.0, 0.5, 1.0, -1.0, 2.0, 25.0, 1e9, -1e-30, float("nan"), float("inf"), float("-inf"))
_STRINGS = ("", "a", "x" * 10_000, "🙂漢字", "\x00", "sha256:" + "0" * 64, "editing.ConvertImage")
_RANGES = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}


@dataclass
class Fuzzer:
    """Seeded request writer (see the module docstring).

    Args:
        seed: makes the cases reproducible.
        media: named media (`media_corpus`).
        asset_ids: ids of the media uploaded as assets of the fuzzing tenant.
    """

    seed: int
    media: dict[str, bytes]
    asset_ids: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.seeds = seeds(self.media)

    def request(self, method: MethodDescriptor) -> tuple[bytes, str]:
        """Serialised request bytes for `method` and a short note of how they were made."""
        seed = self.seeds.get(method.input_type.full_name)
        if seed is not None and self.rng.random() < 0.6:
            message, how = self.mutated(seed), "mutated seed"
        else:
            message, how = self.message(method.input_type), "fields"
        data = message.SerializeToString()
        roll = self.rng.random()
        if roll < 0.04 and data:
            return data[: self.rng.randrange(len(data))], "truncated"
        if roll < 0.07 and data:
            flipped = bytearray(data)
            for _ in range(self.rng.randint(1, 4)):
                flipped[self.rng.randrange(len(flipped))] ^= 1 << self.rng.randrange(8)
            return bytes(flipped), "bit flips"
        if roll < 0.10:
            return self.rng.randbytes(self.rng.randint(1, 64)), "noise"
        return data, how

    def mutated(self, seed: Message) -> Message:
        """A copy of `seed` with one or two fields (maybe nested) replaced by edge values."""
        message = type(seed)()
        message.CopyFrom(seed)
        for _ in range(self.rng.choice((0, 1, 1, 2))):
            target = message
            while True:
                fd = self.rng.choice(target.DESCRIPTOR.fields)
                nested = (
                    fd.message_type
                    and not fd.is_repeated
                    and target.HasField(fd.name)
                    and fd.message_type.full_name not in MEDIA_TYPES
                )
                if not (nested and self.rng.random() < 0.5):
                    break
                target = getattr(target, fd.name)
            target.ClearField(fd.name)
            if self.rng.random() < 0.85:
                self._fill(target, fd, 1)
        return message

    def message(self, descriptor: Descriptor, depth: int = 0) -> Message:
        """A message with each field unset (half of the time) or given an edge value."""
        message = message_factory.GetMessageClass(descriptor)()
        if descriptor.full_name in MEDIA_TYPES:
            self._medium(message)
            return message
        for fd in descriptor.fields:
            if self.rng.random() < 0.5 or (fd.message_type and depth >= 4):
                continue
            if fd.containing_oneof and message.WhichOneof(fd.containing_oneof.name):
                continue
            self._fill(message, fd, depth)
        return message

    def _fill(self, message: Message, fd: FieldDescriptor, depth: int) -> None:
        if fd.message_type and fd.message_type.GetOptions().map_entry:
            target = getattr(message, fd.name)
            key_fd, value_fd = (
                fd.message_type.fields_by_name["key"],
                fd.message_type.fields_by_name["value"],
            )
            for _ in range(self.rng.choice((1, 2, 40))):
                key = self._scalar(key_fd)
                if value_fd.message_type:
                    target[key].CopyFrom(self.message(value_fd.message_type, depth + 1))
                else:
                    target[key] = self._scalar(value_fd)
            return
        if fd.is_repeated:
            count = self.rng.choice((1, 1, 2, 3, 300))
            target = getattr(message, fd.name)
            for _ in range(count):
                if fd.message_type:
                    target.add().CopyFrom(self.message(fd.message_type, depth + 1))
                else:
                    target.append(self._scalar(fd))
            return
        if fd.message_type:
            getattr(message, fd.name).CopyFrom(self.message(fd.message_type, depth + 1))
            if fd.message_type.full_name == "google.protobuf.Struct":
                getattr(message, fd.name).update(self._struct())
            return
        setattr(message, fd.name, self._scalar(fd))

    def _scalar(self, fd: FieldDescriptor):
        kind = fd.type
        if kind == FieldDescriptor.TYPE_BOOL:
            return self.rng.random() < 0.5
        if kind == FieldDescriptor.TYPE_ENUM:
            if self.rng.random() < 0.1:
                return self.rng.choice((-1, 7, 99, 2**31 - 1))
            return self.rng.choice(fd.enum_type.values).number
        if kind in (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE):
            return self.rng.choice(_FLOATS)
        if kind == FieldDescriptor.TYPE_STRING:
            return self.rng.choice(_STRINGS)
        if kind == FieldDescriptor.TYPE_BYTES:
            return self.media[self.rng.choice(list(self.media))]
        low, high = _RANGES[kind]
        return min(max(self.rng.choice(_INTS), low), high)

    def _struct(self) -> dict:
        values = [0, -1, 1e308, "", "FIT_MODE_PAD", [1, 2], {"width": -5, "height": 1e9}, None]
        keys = ["sizes", "scale", "fit", "format", "width", "headline", "x" * 300]
        return {
            self.rng.choice(keys): self.rng.choice(values) for _ in range(self.rng.randint(0, 4))
        }

    def _medium(self, message: Message) -> None:
        roll = self.rng.random()
        if roll < 0.6:
            name = self.rng.choice(list(self.media))
            message.inline = self.media[name]
        elif roll < 0.85 and self.asset_ids:
            message.asset_id = self.rng.choice(self.asset_ids)
        elif roll < 0.95:
            message.asset_id = self.rng.choice(
                ("sha256:" + "f" * 64, "sha256:zz", "not-an-id", "sha256:" + "0" * 64)
            )
        if self.rng.random() < 0.2:
            message.media_type = self.rng.choice(("image/png", "video/mp4", "text/html", "x" * 90))


def targets() -> list[MethodDescriptor]:
    """Every capability RPC of the six families, and the gateway's own unary RPCs."""
    methods = []
    for family in FAMILIES:
        service = find_service(f"vipro.v1.{family.capitalize()}Service")
        methods += list(service.methods)
    for full in GATEWAY_METHODS:
        service, _, name = full.lstrip("/").partition("/")
        methods.append(find_service(service).methods_by_name[name])
    return methods


# Running -------------------------------------------------------------------------------------
@dataclass
class Results:
    """What a fuzz run saw."""

    codes: Counter = field(default_factory=Counter)
    by_method: dict[str, Counter] = field(default_factory=dict)
    bad: list[str] = field(default_factory=list)
    slow: list[str] = field(default_factory=list)
    seconds: float = 0.0


def run(mesh: Mesh, cases: int, seed: int = 1, progress: bool = False) -> Results:
    """Send `cases` fuzzed calls through `mesh`'s gateway; count the answers."""
    keyed = connect(mesh.gateway_address, mesh.api_key)
    anonymous = grpc.insecure_channel(mesh.gateway_address)
    media = media_corpus()
    assets = AssetClient(keyed)
    ids = [assets.upload(data).asset_id for data in media.values() if data]
    fuzzer = Fuzzer(seed, media, ids)
    methods = targets()
    results = Results()
    t0 = time.monotonic()
    for i in range(cases):
        method = methods[i % len(methods)] if i < len(methods) else fuzzer.rng.choice(methods)
        payload, how = fuzzer.request(method)
        channel = anonymous if fuzzer.rng.random() < 0.05 else keyed
        name = f"/{method.containing_service.full_name}/{method.name}"
        code, details, seconds = _call(channel, name, method, payload)
        results.codes[code.name] += 1
        results.by_method.setdefault(name, Counter())[code.name] += 1
        if code in BAD_CODES:
            results.bad.append(f"{name} ({how}): {code.name}: {details}")
        if seconds > SLOW_SECONDS:
            results.slow.append(f"{name} ({how}): {seconds:.0f} s")
        if progress and (i + 1) % 500 == 0:
            print(f"  {i + 1} cases, {dict(results.codes)}", flush=True)
    results.seconds = time.monotonic() - t0
    keyed.close()
    anonymous.close()
    return results


def _call(channel, name: str, method: MethodDescriptor, payload: bytes):
    t0 = time.monotonic()
    timeout = 2 * SLOW_SECONDS
    try:
        if method.server_streaming:
            call = channel.unary_stream(name)
            for _ in call(payload, timeout=timeout):
                pass
        elif method.client_streaming:
            channel.stream_unary(name)(iter([payload]), timeout=timeout)
        else:
            channel.unary_unary(name)(payload, timeout=timeout)
        code, details = grpc.StatusCode.OK, ""
    except grpc.RpcError as err:
        code, details = err.code(), err.details()
    return code, details, time.monotonic() - t0


def process_report(mesh: Mesh) -> dict[str, dict]:
    """Each mesh process, and Triton's model processes: alive, peak resident memory (MiB)."""
    out = {info.name: _process(info.pid, alive) for info, alive in mesh.status()}
    for model, pid in triton.model_processes(mesh.triton_shm_prefix).items():
        out[f"triton model {model}"] = _process(pid, True)
    return out


def _process(pid: int, alive: bool) -> dict:
    peak = memory.status(pid, "VmHWM") / 2**20 if alive else 0.0
    return {"alive": alive, "peak_mib": round(peak, 1)}


def start_mesh(home: Path, budget: str) -> Mesh:
    """Triton, the gateway and every family, each service with `budget` of memory."""
    mesh = Mesh(home, gateway_port=0, metrics_port=0)
    mesh.write_config()
    mesh.start_triton()
    mesh.start_gateway()
    for family in FAMILIES:
        mesh.start_service(family, wait=False, env={"VIPRO_MEMORY_BUDGET": budget})
    mesh.up(triton=False)
    return mesh


def main(cases: int = 10_000, seed: int = 1) -> Path:
    budget = "2G"
    with tempfile.TemporaryDirectory() as tmp:
        mesh = start_mesh(Path(tmp) / "state", budget)
        try:
            results = run(mesh, cases, seed, progress=True)
            processes = process_report(mesh)
        finally:
            mesh.down()
    rows = [[code, count] for code, count in results.codes.most_common()]
    process_rows = [
        [name, "yes" if p["alive"] else "**no**", f"{p['peak_mib']:.0f}"]
        for name, p in processes.items()
    ]
    summary = [
        ["cases", cases],
        ["seconds", f"{results.seconds:.0f}"],
        ["INTERNAL or UNKNOWN", len(results.bad)],
        [f"calls over {SLOW_SECONDS:.0f} s", len(results.slow)],
        ["processes dead afterwards", sum(not p["alive"] for p in processes.values())],
    ]
    return report.write(
        "fuzz",
        f"Fuzzing through the gateway: {cases} cases, seed {seed}, service budgets {budget}",
        ["status", "answers"],
        rows,
        {
            "by_method": {m: dict(c) for m, c in results.by_method.items()},
            "bad": results.bad[:100],
            "slow": results.slow[:100],
            "processes": processes,
        },
        tables=[
            ("Summary", ["what", "value"], summary),
            (
                "Processes afterwards (peak resident memory over the run)",
                ["process", "alive", "peak MiB"],
                process_rows,
            ),
        ],
    )


if __name__ == "__main__":
    print(main(*(int(a) for a in sys.argv[1:3])).read_text())
