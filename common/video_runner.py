"""The video-job runner: one loop for every capability that turns a video into videos.

In the spirit of PySceneDetect's ``SceneManager``, the runner owns the loop and a capability
plugs in a :class:`FrameProcessor` that only turns frames into frames. The runner does the
rest: decoding (variable frame rates keep their timestamps), the call's time range, memory
admission for the frame size, cancellation, progress, encoding each output track with the
source's timestamps (audio copied onto the first track), and delivering the encoded files::

    class Invert(FrameProcessor):
        def push(self, frame, active):
            return [Output(frame.pts, {"video": 255 - frame.rgb if active else frame.rgb})]

    with VideoRunner(ctx, data, encoding=adapters.encoding(request.encoding)) as runner:
        result = runner.run(Invert(), stage="invert")
    response.video.CopyFrom(result.videos["video"])

Memory is bounded by the frame size and the processor's own look-ahead, never by the video's
length: frames are decoded one at a time and encoded as soon as the processor lets them go.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from common import video
from common.provider import CallContext
from vipro.v1 import common_pb2

MAIN_TRACK = "video"
DEFAULT_ENCODING = video.Encoding()
WHOLE_VIDEO = video.TimeRange()


@dataclass(frozen=True)
class Output:
    """Frames finished for one presentation time.

    Attributes:
        pts: presentation time in the source's time base (``Frame.pts``), or in
            ``video.FINE_TIME_BASE`` when the run makes another frame rate.
        frames: track name -> ``uint8`` RGB ``(H, W, 3)`` of the source's size; tracks the
            runner was not asked to encode are ignored.
    """

    pts: int
    frames: Mapping[str, np.ndarray]


class FrameProcessor:
    """Turns decoded frames into output frames, in presentation order.

    A processor may hold frames back (look-ahead, or waiting for a detection): :meth:`push`
    returns the outputs finished so far (none, one or several) and :meth:`flush` the rest at
    the end. Every pushed frame must come out exactly once, in order. The runner encodes each
    output as it takes it from the iterable, so a generator that makes each frame only when
    asked keeps one at a time in memory.
    """

    def push(self, frame: video.Frame, active: bool) -> Iterable[Output]:
        """Take the next decoded frame.

        Args:
            frame: the frame, with its index, time and pts.
            active: False outside the call's time range; such frames are still pushed so
                motion and look-ahead stay continuous, and should come out unchanged.
        """
        raise NotImplementedError

    def flush(self) -> Iterable[Output]:
        """The outputs still held, at the end of the video."""
        return ()

    def close(self) -> None:
        """Free what the processor holds (threads, buffers); called once, also on failure."""


@dataclass(frozen=True)
class RunResult:
    """What :meth:`VideoRunner.run` produced: the delivered video of each track and the
    number of frames decoded, and ``note``: what the caller should know about the input
    (undecodable packets skipped), "" when nothing."""

    videos: dict[str, common_pb2.Video]
    frames: int
    note: str = ""


class VideoRunner:
    """One call's pass over a video: decode, process, encode, deliver.

    Args:
        ctx: the call (memory, cancellation, progress, delivery).
        data: the encoded input video (any container and codec FFmpeg reads).
        field: request field named in errors.
        encoding: codec, quality and container of every output track.
        time_range: frames inside it are pushed as ``active``.
        tracks: output tracks to encode; the first carries the source's audio. None (``()``)
            makes an analysis pass: frames are decoded and pushed, nothing is encoded.
        delivery: how the encoded files reach the caller (``DELIVERY_UNSPECIFIED``: inline
            when they fit the call's inline budget, else as assets).

    Raises:
        InvalidArgument: not a video, no video stream, no decoder for it.
        ResourceExhausted: frames larger than the pixel limit, or than the memory budget.
    """

    def __init__(
        self,
        ctx: CallContext,
        data: bytes,
        field: str = "video",
        encoding: video.Encoding = DEFAULT_ENCODING,
        time_range: video.TimeRange = WHOLE_VIDEO,
        tracks: tuple[str, ...] = (MAIN_TRACK,),
        delivery: int = common_pb2.DELIVERY_UNSPECIFIED,
    ):
        self.ctx, self.data, self.encoding = ctx, data, encoding
        self.time_range, self.tracks, self.delivery = time_range, tracks, delivery
        self.reader = video.VideoReader(data, field)
        self.info = self.reader.info
        self._folder = tempfile.TemporaryDirectory()
        try:
            ctx.admit(self.info.width * self.info.height, "video frames")
        except Exception:
            self.close()
            raise

    def run(
        self,
        processor: FrameProcessor,
        stage: str = "process",
        share: float = 1.0,
        rate: Fraction | None = None,
        audio: bool = True,
    ) -> RunResult:
        """Push every frame through ``processor``, encode its outputs and deliver them.

        Progress is reported under ``stage`` as the share of frames decoded, scaled to
        ``share`` (0-1) of the job when more work follows the pass (then "done" is left to the
        caller); the stage's time is recorded in the response metadata, and delivery under
        "encode". ``rate`` (frames per second) makes the output tracks at another rate than
        the source's: outputs' ``pts`` are then in ``video.FINE_TIME_BASE``. ``audio=False``
        leaves the source's audio out.

        Raises:
            Cancelled: the caller or the job's owner cancelled.
        """
        writers = {
            track: video.VideoWriter(
                self._path(track),
                self.reader,
                self.encoding,
                audio=audio and track == self.tracks[0],
                rate=rate,
            )
            for track in self.tracks
        }
        count, finished = 0, False
        try:
            with self.ctx.stage(stage):
                on_audio = writers[self.tracks[0]].mux_audio if self.tracks else None
                for frame in self.reader.frames(on_audio=on_audio):
                    self.ctx.check_cancelled()
                    self._write(writers, processor.push(frame, frame.seconds in self.time_range))
                    count += 1
                    if self.info.frames:
                        done = min(0.99, count / self.info.frames) * share
                        self.ctx.report_progress(done, stage)
                self._write(writers, processor.flush())
                for writer in writers.values():
                    writer.close()
                finished = True
        finally:
            processor.close()
            if not finished:
                for writer in writers.values():
                    writer.abandon()
        with self.ctx.stage("encode"):
            videos = {track: self._deliver(track, writers[track]) for track in self.tracks}
        skipped = self.reader.skipped
        note = f"skipped {skipped} undecodable video packets" if skipped else ""
        if share >= 1.0:
            self.ctx.report_progress(1.0, "done", note)
        return RunResult(videos, count, note)

    def _path(self, track: str) -> str:
        return os.path.join(self._folder.name, f"{track}.{self.encoding.container}")

    @staticmethod
    def _write(writers: dict[str, video.VideoWriter], outputs: Iterable[Output]) -> None:
        for output in outputs:
            for track, writer in writers.items():
                writer.write(output.frames[track], output.pts)

    def _deliver(self, track: str, writer: video.VideoWriter) -> common_pb2.Video:
        with open(self._path(track), "rb") as f:
            return self.ctx.deliver(f.read(), writer.media_type, self.delivery, common_pb2.Video)

    def close(self) -> None:
        """Close the input and remove the encoded files."""
        self.reader.close()
        self._folder.cleanup()

    def __enter__(self) -> VideoRunner:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
