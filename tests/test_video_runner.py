"""The shared video runner (common.video_runner) under a real gRPC server on loopback: frame
processors plugged into it, borrowing the EraseVideo contract. Timing (variable frame rate),
odd sizes, audio, time ranges, look-ahead, extra tracks, failures and memory admission."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator

import grpc
import numpy as np
import pytest

from bench.video_scenes import encode, scene
from common import adapters
from common.admission import MemoryBudget, MemoryCost
from common.provider import CallContext, MeshLinks, Provider, capability
from common.video import Frame, VideoReader
from common.video_runner import MAIN_TRACK, FrameProcessor, Output, VideoRunner
from tests.helpers import violations
from vipro.v1 import common_pb2, editing_pb2, editing_pb2_grpc

TIMES = [0.0, 0.04, 0.1, 0.13, 0.2, 0.32, 0.36, 0.5, 0.55, 0.7, 0.74, 0.9]
"""Irregular frame times: a variable frame rate."""


class Invert(FrameProcessor):
    """Inverts active frames; a second "mask" track shows which were."""

    def push(self, frame: Frame, active: bool) -> list[Output]:
        out = 255 - frame.rgb if active else frame.rgb
        mask = np.full_like(frame.rgb, 255 if active else 0)
        return [Output(frame.pts, {MAIN_TRACK: out, "mask": mask})]


class Delay(FrameProcessor):
    """Holds ``frames`` frames back (a look-ahead), then lets them go unchanged."""

    def __init__(self, frames: int):
        self.held: deque[Frame] = deque()
        self.frames = frames

    def push(self, frame: Frame, active: bool) -> list[Output]:
        self.held.append(frame)
        if len(self.held) <= self.frames:
            return []
        first = self.held.popleft()
        return [Output(first.pts, {MAIN_TRACK: first.rgb})]

    def flush(self) -> list[Output]:
        return [Output(f.pts, {MAIN_TRACK: f.rgb}) for f in self.held]


class Fails(FrameProcessor):
    """Fails on the fifth frame; remembers being closed."""

    closed = False

    def push(self, frame: Frame, active: bool) -> list[Output]:
        if frame.index == 4:
            raise RuntimeError("processor broke")
        return [Output(frame.pts, {MAIN_TRACK: frame.rgb})]

    def close(self) -> None:
        Fails.closed = True


PROCESSOR: dict[str, Callable[[], FrameProcessor]] = {"make": Invert}


@capability("editing.EraseVideo", memory=MemoryCost(per_pixel=1000))
def run_processor(
    request: editing_pb2.EraseVideoRequest, ctx: CallContext
) -> editing_pb2.EraseVideoResponse:
    """The processor in PROCESSOR on the runner; a mask track when asked."""
    tracks = (MAIN_TRACK, "mask") if request.return_mask_video else (MAIN_TRACK,)
    data = ctx.read_bytes(request.video, "video")
    span = adapters.time_range(request.time_range)
    with VideoRunner(ctx, data, "video", adapters.encoding(request.encoding), span, tracks) as run:
        result = run.run(PROCESSOR["make"](), stage="test")
    return editing_pb2.EraseVideoResponse(
        video=result.videos[MAIN_TRACK], mask_video=result.videos.get("mask"), frames=result.frames
    )


@pytest.fixture(scope="module")
def stub() -> Iterator[editing_pb2_grpc.EditingServiceStub]:
    provider = Provider("runner-test", [run_processor])
    budget = MemoryBudget(200 << 20)  # 1000 bytes a pixel: frames up to ~200k pixels
    port = provider.start(port=0, metrics_port=None, links=MeshLinks(memory=budget))
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield editing_pb2_grpc.EditingServiceStub(channel)
    provider.stop(grace=1)


def call(stub, data: bytes, **fields) -> editing_pb2.EraseVideoResponse:
    return stub.EraseVideo(
        editing_pb2.EraseVideoRequest(
            video=common_pb2.Video(inline=data),
            region=editing_pb2.EraseRegion(boxes=[common_pb2.Box(width=1, height=1)]),
            **fields,
        ),
        timeout=60,
    )


def frames_of(video: common_pb2.Video) -> tuple[list[Frame], bool]:
    with VideoReader(video.inline) as reader:
        return list(reader.frames()), reader.info.has_audio


def clip(height: int = 61, width: int = 81) -> tuple[list[np.ndarray], bytes]:
    frames = [np.roll(scene(height, width, seed=3), 2 * i, axis=1) for i in range(len(TIMES))]
    return frames, encode(frames, 25, audio=True, times=TIMES)


def test_active_frames_are_processed_and_the_rest_pass_unchanged(stub):
    source, data = clip()
    span = common_pb2.TimeRange(start_seconds=0.3, end_seconds=0.6)
    reply = call(stub, data, time_range=span, return_mask_video=True)
    out, has_audio = frames_of(reply.video)
    masks, mask_audio = frames_of(reply.mask_video)
    assert reply.frames == len(TIMES) == len(out) == len(masks)
    assert [round(f.seconds, 3) for f in out] == TIMES  # variable frame rate kept
    assert out[0].rgb.shape == (61, 81, 3)  # odd size kept
    assert has_audio and not mask_audio  # audio on the first track only
    for f, original, mask in zip(out, source, masks, strict=True):
        inside = 0.3 <= f.seconds < 0.6
        expected = 255 - original.astype(int) if inside else original.astype(int)
        assert np.abs(f.rgb.astype(int) - expected).mean() < 12, f.seconds
        assert (mask.rgb.mean() > 128) == inside


def test_a_look_ahead_processor_gets_every_frame_out_in_order(stub):
    source, data = clip()
    PROCESSOR["make"] = lambda: Delay(5)
    try:
        out, _ = frames_of(call(stub, data).video)
    finally:
        PROCESSOR["make"] = Invert
    assert [round(f.seconds, 3) for f in out] == TIMES
    for f, original in zip(out, source, strict=True):
        assert np.abs(f.rgb.astype(int) - original.astype(int)).mean() < 12


def test_a_failing_processor_is_closed_and_the_call_fails_cleanly(stub):
    _, data = clip()
    PROCESSOR["make"] = Fails
    try:
        with pytest.raises(grpc.RpcError) as failure:
            call(stub, data)
    finally:
        PROCESSOR["make"] = Invert
    assert failure.value.code() == grpc.StatusCode.INTERNAL
    assert Fails.closed
    assert call(stub, clip()[1]).frames == len(TIMES)  # the server still serves


def test_frames_beyond_the_memory_budget_are_refused_before_decoding(stub):
    _, data = clip(height=480, width=640)  # 307k pixels x 1000 bytes > the 200 MiB budget
    with pytest.raises(grpc.RpcError) as refused:
        call(stub, data)
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "video frames" in refused.value.details()


def test_a_reversed_time_range_is_refused_by_the_contract(stub):
    _, data = clip()
    with pytest.raises(grpc.RpcError) as bad:
        call(stub, data, time_range=common_pb2.TimeRange(start_seconds=2, end_seconds=1))
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations(bad.value) == {
        "time_range.end_seconds": "is 1, must be greater than start_seconds (2)"
    }
