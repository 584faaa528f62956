"""What several tests share: pictures in and out of messages, quality measures, small scenes,
metrics scraping. Tests import from here, never from each other."""

from __future__ import annotations

import io
import os
import urllib.request
import zipfile
from pathlib import Path

import grpc
import numpy as np
import pytest
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families

from common.errors import decode_details
from vipro.v1 import common_pb2

DATA = Path(__file__).resolve().parent / "data"
REPO = Path(__file__).resolve().parent.parent


def open_cached_wheel(pattern: str) -> zipfile.ZipFile:
    """The wheel :func:`cached_wheel` finds, opened; skips the test when it is absent."""
    wheel = cached_wheel(pattern)
    if wheel is None:
        pytest.skip(f"{pattern} not found in $VIPRO_WHEEL_CACHE, .vipro/wheels or /tmp/wheels")
    return zipfile.ZipFile(wheel)


def cached_wheel(pattern: str) -> Path | None:
    """A wheel ``make models`` downloaded (matching the glob ``pattern``), looked up in
    $VIPRO_WHEEL_CACHE (default <repo>/.vipro/wheels) then /tmp/wheels; None when absent."""
    cache = Path(os.environ.get("VIPRO_WHEEL_CACHE", REPO / ".vipro" / "wheels"))
    for folder in (cache, Path("/tmp/wheels")):
        found = sorted(folder.glob(pattern)) if folder.is_dir() else []
        if found:
            return found[0]
    return None


def png(pixels: np.ndarray) -> bytes:
    """uint8 grey, RGB or RGBA pixels as PNG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def two_colour_png(width: int, height: int) -> bytes:
    """A PNG whose left half is red and right half black."""
    image = np.zeros((height, width, 3), np.uint8)
    image[:, : width // 2] = (255, 0, 0)
    return png(image)


def decoded(image: common_pb2.Image) -> np.ndarray:
    """The pixels of an inline Image, as stored (grey, RGB or RGBA)."""
    return np.asarray(Image.open(io.BytesIO(image.inline)))


def picture(name: str) -> np.ndarray:
    """An RGB picture from tests/data."""
    return np.asarray(Image.open(DATA / name).convert("RGB"))


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boolean masks (0 when both are empty)."""
    return float((a & b).sum() / max((a | b).sum(), 1))


def box_iou(a: tuple, b: tuple) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes."""
    w = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union if union else 0.0


def psnr(a: np.ndarray, b: np.ndarray, region: np.ndarray | None = None) -> float:
    """PSNR (dB, 8-bit peak) of `a` against `b`, over `region` (boolean) or everywhere."""
    diff = a.astype(float) - b.astype(float)
    error = np.mean((diff if region is None else diff[region]) ** 2)
    return float(10 * np.log10(255**2 / max(error, 1e-9)))


def brick_wall(h: int = 160, w: int = 224, seed: int = 0) -> np.ndarray:
    """A regular texture (bricks with mortar lines and grain): diffusion cannot invent it,
    copying from elsewhere in the picture can."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    row = yy // 16
    mortar = (yy % 16 < 3) | (((xx + 16 * (row % 2)) % 32) < 3)
    image = np.where(mortar[..., None], [200, 200, 190], [150, 60, 40]).astype(float)
    image += rng.normal(0, 6, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def scrape(port: int) -> dict[tuple, float]:
    """Every sample a /metrics endpoint serves: (name, sorted labels) -> value."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(samples: dict, name: str, **labels) -> float:
    """Sum of the samples named `name` whose labels include `labels`."""
    return sum(
        v
        for (n, ls), v in samples.items()
        if n == name and all(dict(ls).get(k) == w for k, w in labels.items())
    )


def violations(error: grpc.RpcError) -> dict[str, str]:
    """field -> description of the BadRequest field violations an error carries."""
    return {
        v.field: v.description
        for detail in decode_details(error)
        for v in getattr(detail, "field_violations", [])
    }


def audio_only_mp4() -> bytes:
    """An MP4 holding one AAC frame of silence and no video stream."""
    import av

    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        sound = container.add_stream("aac", rate=44100)
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
        )
        frame.sample_rate, frame.pts = 44100, 0
        container.mux(sound.encode(frame))
        container.mux(sound.encode(None))
    return buffer.getvalue()


def corrupted(data: bytes, at: float = 0.5, length: int = 400) -> bytes:
    """``data`` with ``length`` bytes of garbage written over it ``at`` that share of the way
    in (inside the frames of a short MP4: one packet no longer decodes)."""
    out = bytearray(data)
    start = int(len(out) * at)
    out[start : start + length] = (bytes(range(256)) * (length // 256 + 1))[:length]
    return bytes(out)


def _bad_videos() -> list[tuple[bytes, str]]:
    from bench.video_scenes import encode, make_clip

    good = encode(make_clip(frames=3, logo=False).frames, 15)
    return [
        (b"\x00\x01not a video at all" * 100, "video"),
        (b"", "video"),
        (good[:600], "video"),
        (good.replace(b"avc1", b"zzzz"), "no decoder here reads"),
        (audio_only_mp4(), "no video stream"),
    ]


BAD_VIDEOS = _bad_videos()
"""(file, words its INVALID_ARGUMENT message holds): garbage, empty, truncated, a codec no
decoder here reads, audio and no video."""
BAD_VIDEO_IDS = ["garbage", "empty", "truncated", "unknown-codec", "audio-only"]


def claiming_hours(data: bytes, hours: float) -> bytes:
    """An MP4 whose movie and media headers (mvhd, mdhd, version 0) claim it lasts ``hours``:
    the frames are unchanged, only the declared duration lies. (FFmpeg's MP4 reader trusts
    the sample table over these headers; a capability must trust the frames it decodes.)"""
    out = bytearray(data)
    for box in (b"mvhd", b"mdhd"):
        at = 0
        while (at := out.find(box, at)) >= 0:
            if out[at + 4] == 0:  # version 0: 32-bit times
                scale = int.from_bytes(out[at + 16 : at + 20], "big")
                out[at + 20 : at + 24] = int(hours * 3600 * scale).to_bytes(4, "big")
            at += 4
    return bytes(out)


class Job:
    """A job submitted through the gateway's JobService, for tests: ``Job(channel, method,
    request)`` submits it; :meth:`watch` follows it to its end, :meth:`wait_started` and
    :meth:`cancel` stop it once it runs."""

    def __init__(self, channel: grpc.Channel, method: str, request) -> None:
        from google.protobuf import any_pb2

        from vipro.v1 import jobs_pb2, jobs_pb2_grpc

        self.jobs_pb2 = jobs_pb2
        self.stub = jobs_pb2_grpc.JobServiceStub(channel)
        packed = any_pb2.Any()
        packed.Pack(request)
        submitted = jobs_pb2.SubmitJobRequest(method=method, request=packed)
        self.job_id = self.stub.SubmitJob(submitted, timeout=10).job.job_id

    def watch(self, timeout: float = 120) -> list[float]:
        """Progress fractions seen until the job succeeds."""
        seen = []
        watched = self.jobs_pb2.WatchJobRequest(job_id=self.job_id)
        for event in self.stub.WatchJob(watched, timeout=timeout):
            seen.append(event.job.progress.fraction)
            if event.job.state == self.jobs_pb2.JOB_STATE_SUCCEEDED:
                break
        return seen

    def get(self):
        """The job as the gateway has it now."""
        return self.stub.GetJob(self.jobs_pb2.GetJobRequest(job_id=self.job_id), timeout=5).job

    def result(self, response):
        """Unpack the finished job's result into ``response`` and return it."""
        self.get().result.Unpack(response)
        return response

    def wait_started(self, within: float = 60) -> None:
        """Return once the job reports progress (fails after ``within`` seconds)."""
        import time

        deadline = time.monotonic() + within
        while self.get().progress.fraction <= 0:
            assert time.monotonic() < deadline, "the job never started"
            time.sleep(0.1)

    def cancel(self):
        """Cancel the job; the job after."""
        request = self.jobs_pb2.CancelJobRequest(job_id=self.job_id)
        return self.stub.CancelJob(request, timeout=5).job
