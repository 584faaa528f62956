"""enhancement.InterpolateFrames through the gateway: frames between the source's against exact
truth, exact output times for a target rate, slow motion, cuts repeated rather than morphed,
audio, and bad input. (The interpolation alone: tests/test_interpolation.py.)"""

from __future__ import annotations

import io
import itertools

import av
import grpc
import numpy as np
import pytest

from bench.video_scenes import encode
from common.video import VideoReader
from tests.helpers import (
    BAD_VIDEO_IDS,
    BAD_VIDEOS,
    Job,
    claiming_hours,
    corrupted,
    picture,
    psnr,
    violations,
)
from vipro.v1 import (
    common_pb2,
    enhancement_pb2,
    enhancement_pb2_grpc,
)

SIZE = (144, 256)


@pytest.fixture(scope="module")
def enhancement(channel) -> enhancement_pb2_grpc.EnhancementServiceStub:
    return enhancement_pb2_grpc.EnhancementServiceStub(channel)


def panned(frames: int, step: int = 3) -> list[np.ndarray]:
    """A photograph panned ``step`` pixels a frame to the right and half that down (exact)."""
    source = picture("astronaut.png")
    h, w = SIZE
    return [
        np.ascontiguousarray(source[k * step // 2 : k * step // 2 + h, k * step : k * step + w])
        for k in range(frames)
    ]


def interpolate(stub, data: bytes, **fields) -> enhancement_pb2.InterpolateFramesResponse:
    request = enhancement_pb2.InterpolateFramesRequest(
        video=common_pb2.Video(inline=data), **fields
    )
    return stub.InterpolateFrames(request, timeout=120)


def decoded_frames(reply) -> tuple[list[np.ndarray], list[float]]:
    with VideoReader(reply.video.inline) as reader:
        frames = list(reader.frames())
    return [f.rgb for f in frames], [f.seconds for f in frames]


def test_doubling_makes_the_missing_frames_and_keeps_length_and_audio(enhancement):
    truth = panned(25)
    reply = interpolate(enhancement, encode(truth[::2], 12.5, audio=True, crf=4))
    assert reply.frames == 26 and reply.fps == pytest.approx(25.0)
    assert reply.duration_seconds == pytest.approx(13 / 12.5, abs=1e-3)
    frames, times = decoded_frames(reply)
    assert len(frames) == 26
    assert np.allclose(times, np.arange(26) / 25.0, atol=1e-3)
    made = [psnr(frames[k], truth[k]) for k in range(1, 24, 2)]
    blended = [
        psnr(((truth[k - 1].astype(int) + truth[k + 1]) // 2).astype(np.uint8), truth[k])
        for k in range(1, 24, 2)
    ]
    assert np.mean(made) > np.mean(blended) + 6, (made, blended)
    with av.open(io.BytesIO(reply.video.inline)) as container:
        assert container.streams.audio


def test_a_target_rate_puts_frames_at_exact_times(enhancement):
    reply = interpolate(enhancement, encode(panned(24), 24.0), target_fps=60.0)
    frames, times = decoded_frames(reply)
    assert reply.fps == pytest.approx(60.0)
    assert len(frames) == reply.frames == 60
    assert np.allclose(times, np.arange(60) / 60.0, atol=2e-5)


def test_slow_motion_keeps_the_rate_stretches_time_and_drops_audio(enhancement):
    reply = interpolate(
        enhancement, encode(panned(10), 25.0, audio=True), factor=4, slow_motion=True
    )
    frames, times = decoded_frames(reply)
    assert reply.fps == pytest.approx(25.0) and len(frames) == 40
    assert times[-1] == pytest.approx(39 / 25.0, abs=1e-3)
    with av.open(io.BytesIO(reply.video.inline)) as container:
        assert not container.streams.audio


def two_shots() -> tuple[list[np.ndarray], int]:
    first = panned(8)
    second = [255 - f[::-1] for f in panned(8)]
    return first + second, 8


def test_frames_at_a_cut_repeat_rather_than_morph(enhancement):
    frames, cut = two_shots()
    data = encode(frames, 25.0, crf=4)
    reply = interpolate(enhancement, data, factor=2)
    out, _ = decoded_frames(reply)
    middle = out[2 * cut - 1]  # between the last frame of the first shot and the first of the next
    assert max(psnr(middle, frames[cut - 1]), psnr(middle, frames[cut])) > 35
    across = interpolate(enhancement, data, factor=2, interpolate_across_cuts=True)
    morphed = decoded_frames(across)[0][2 * cut - 1]
    assert max(psnr(morphed, frames[cut - 1]), psnr(morphed, frames[cut])) < 25


def test_a_one_frame_video_and_a_variable_frame_rate(enhancement):
    one = interpolate(enhancement, encode(panned(1), 25.0), factor=3)
    assert one.frames == 3
    times = [0.0, 0.04, 0.12, 0.16, 0.3]
    reply = interpolate(enhancement, encode(panned(5), 25.0, times=times), factor=2)
    _, out = decoded_frames(reply)
    middles = [(a + b) / 2 for a, b in itertools.pairwise(times)]
    assert np.allclose(out[1:8:2], middles, atol=2e-3)


@pytest.mark.parametrize(("data", "needle"), BAD_VIDEOS, ids=BAD_VIDEO_IDS)
def test_bad_videos_are_invalid_argument(enhancement, data, needle):
    with pytest.raises(grpc.RpcError) as err:
        interpolate(enhancement, data)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert needle in err.value.details()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"target_fps": 20.0}, "target_fps"),
        ({"target_fps": 500.0}, "target_fps"),
        ({"factor": 17}, "factor"),
    ],
    ids=["below-source", "above-240", "factor-17"],
)
def test_rates_out_of_range_are_invalid_argument(enhancement, fields, field):
    with pytest.raises(grpc.RpcError) as err:
        interpolate(enhancement, encode(panned(3), 25.0), **fields)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in violations(err.value)


def test_a_corrupt_packet_is_skipped_and_reported_in_the_job(channel):
    data = corrupted(encode(panned(25), 25.0))
    request = enhancement_pb2.InterpolateFramesRequest(video=common_pb2.Video(inline=data))
    job = Job(channel, "enhancement.InterpolateFrames", request)
    job.watch()
    assert "skipped 1 undecodable video packets" in job.get().progress.message
    assert job.result(enhancement_pb2.InterpolateFramesResponse()).frames == 48


def test_a_header_claiming_ten_hours_does_not_fool_the_output(enhancement):
    reply = interpolate(enhancement, claiming_hours(encode(panned(10), 25.0), 10), factor=2)
    assert reply.frames == 20 and reply.duration_seconds == pytest.approx(0.4, abs=1e-3)
