"""enhancement.InterpolateFrames: a higher frame rate or slow motion, frames made between the
source's (:mod:`.interpolation`), on the shared video runner.

:class:`Timing` says when output frames fall (a factor, or a target rate at exact times, made
slow or not); :class:`Upsample` is the runner's frame processor: for each pair of source
frames it makes the frames falling between them, and repeats rather than morphs across a cut
(the classical cut detector's measure, ``common.shots``) unless asked to interpolate across.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

from common import adapters, shots, video
from common.admission import MemoryCost
from common.errors import InvalidArgument
from common.provider import CallContext, capability
from common.video_runner import MAIN_TRACK, FrameProcessor, Output, VideoRunner
from services.enhancement.interpolation import PairInterpolator, StillDetail
from vipro.v1 import enhancement_pb2

DEFAULT_FACTOR = 2
CUT_THRESHOLD = 27.0
"""Content change (``shots.aligned_distance``, 0-255) between two frames from which the pair
is taken for a cut."""
EPSILON = 1e-6  # seconds: an output time this close to a source frame's is that frame


@dataclass(frozen=True)
class Timing:
    """When output frames fall. ``factor``: frames per source interval (exactly that many,
    the first being the source frame), or 0 to follow ``fps``; ``fps``: the output rate of a
    target-rate call (frames at k / fps from the first frame); ``slow``: output times are
    stretched by ``stretch`` so the video plays slower at the source's rate."""

    factor: int
    fps: float
    slow: bool
    stretch: float

    def between(self, start: float, end: float) -> list[tuple[float, float]]:
        """(source time, share of the way from ``start`` to ``end``, 0 <= share < 1) of the
        output frames in [start, end), relative to the first frame."""
        if self.factor:
            return [
                (start + k * (end - start) / self.factor, k / self.factor)
                for k in range(self.factor)
            ]
        first = math.ceil(start * self.fps - EPSILON)
        times = []
        k = first
        while k / self.fps < end - EPSILON:
            t = k / self.fps
            times.append((t, max(0.0, (t - start) / (end - start))))
            k += 1
        return times

    def output_seconds(self, source_seconds: float) -> float:
        """Where a frame made for ``source_seconds`` (from the first frame) is shown."""
        return source_seconds * self.stretch if self.slow else source_seconds


def timing(request: enhancement_pb2.InterpolateFramesRequest, source_fps: float) -> Timing:
    """The call's :class:`Timing`.

    Raises:
        InvalidArgument: ``target_fps`` not above the source's rate.
    """
    if request.WhichOneof("target") == "target_fps":
        if request.target_fps <= source_fps + 1e-3:
            wanted = request.target_fps
            raise InvalidArgument.field(
                "target_fps",
                f"must be above the source's rate ({source_fps:.3f} fps), not {wanted:g}",
            )
        return Timing(0, request.target_fps, request.slow_motion, request.target_fps / source_fps)
    factor = max(DEFAULT_FACTOR, request.factor)
    return Timing(factor, source_fps * factor, request.slow_motion, float(factor))


class Upsample(FrameProcessor):
    """The InterpolateFrames frame processor: holds one source frame, and when the next
    arrives, emits the output frames between the two.

    Args:
        plan: when output frames fall.
        source_fps: the source's frame rate (how long its last frame shows).
        across_cuts: interpolate across cuts too (otherwise frames there repeat the nearer
            source frame).
    """

    def __init__(self, plan: Timing, source_fps: float, across_cuts: bool):
        self.plan, self.source_fps, self.across_cuts = plan, source_fps, across_cuts
        self._held: tuple[video.Frame, shots.Features] | None = None
        self._still = StillDetail()
        self._origin = 0.0
        self._step = 0.0  # the last interval between source frames, seconds
        self.frames = 0
        self.last_seconds = 0.0

    def push(self, frame: video.Frame, active: bool) -> Iterator[Output]:
        looks = shots.features(frame.index, frame.rgb)
        self._still.push(frame.rgb)
        if self._held is None:
            self._held, self._origin = (frame, looks), frame.seconds
            return iter(())
        (a, a_looks), self._held = self._held, (frame, looks)
        self._step = frame.seconds - a.seconds
        cut = shots.aligned_distance(a_looks, looks) >= CUT_THRESHOLD
        return self._between(a, frame, cut and not self.across_cuts)

    def flush(self) -> Iterator[Output]:
        if self._held is None:
            return iter(())
        last = self._held[0]
        step = self._step or 1.0 / self.source_fps
        return self._between(last, None, True, step)

    def _between(
        self, a: video.Frame, b: video.Frame | None, repeat: bool, step: float = 0.0
    ) -> Iterator[Output]:
        start = a.seconds - self._origin
        end = (b.seconds - self._origin) if b is not None else start + step
        pair = None
        for seconds, share in self.plan.between(start, end):
            if share < EPSILON or b is None:
                rgb = a.rgb
            elif repeat:
                rgb = a.rgb if share < 0.5 else b.rgb
            else:
                pair = pair or PairInterpolator(a.rgb, b.rgb, self._still.mask())
                rgb = pair.at(share)
            shown = self.plan.output_seconds(seconds)
            self.frames += 1
            self.last_seconds = shown
            yield Output(round(shown / video.FINE_TIME_BASE), {MAIN_TRACK: rgb})


# Per frame pixel: the frames held for still detail, flows and warps in float32 at the flow
# scale, two warped frames.
@capability("enhancement.InterpolateFrames", version="1.0.0", memory=MemoryCost(per_pixel=140))
def interpolate_frames(
    request: enhancement_pb2.InterpolateFramesRequest, ctx: CallContext
) -> enhancement_pb2.InterpolateFramesResponse:
    """Frames synthesised between the source's for a higher rate or slow motion."""
    data = ctx.read_bytes(request.video, "video")
    encoding = adapters.encoding(request.encoding)
    with VideoRunner(ctx, data, "video", encoding) as runner:
        source_fps = runner.info.fps or 25.0
        plan = timing(request, source_fps)
        rate = Fraction(source_fps if plan.slow else plan.fps).limit_denominator(1001)
        processor = Upsample(plan, source_fps, request.interpolate_across_cuts)
        result = runner.run(processor, "interpolate", rate=rate, audio=not plan.slow)
    return enhancement_pb2.InterpolateFramesResponse(
        video=result.videos[MAIN_TRACK],
        fps=float(rate),
        duration_seconds=processor.last_seconds + 1.0 / float(rate),
        frames=processor.frames,
        metadata=ctx.metadata(),
    )
