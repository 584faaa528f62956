"""Video decoding and encoding with PyAV (FFmpeg's libraries, bundled in the wheel).

:func:`frame_at` and :func:`frames_at` pick frames; :class:`VideoReader` and
:class:`VideoWriter` stream a whole video through a process frame by frame, with its audio
copied, in bounded memory.

Bad input (not a video, no video stream, truncated, a frame beyond the pixel limit) raises
``InvalidArgument`` or ``ResourceExhausted`` naming the request field, never a crash.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np

from common.errors import InvalidArgument, ResourceExhausted
from common.media import MAX_PIXELS

log = logging.getLogger(__name__)

SEEK_AFTER = 4.0  # seconds ahead beyond which frames_at seeks rather than decodes through


def open_video(
    source: str | bytes, field: str = "video"
) -> tuple[av.container.InputContainer, av.VideoStream]:
    """Open a video and its first video stream, checked: readable, a decoder for it, a frame
    size, at most ``MAX_PIXELS`` per frame.

    Raises:
        InvalidArgument: not a video, no video stream, no decoder for it.
        ResourceExhausted: frames larger than ``MAX_PIXELS``.
    """
    try:
        container = av.open(io.BytesIO(source) if isinstance(source, bytes) else source)
    except (av.FFmpegError, ValueError, OSError) as err:
        raise InvalidArgument.field(field, f"is not a readable video ({err})") from None
    try:
        if not container.streams.video:
            raise InvalidArgument.field(field, "has no video stream")
        stream = container.streams.video[0]
        ctx = stream.codec_context
        if ctx is None or ctx.width <= 0 or ctx.height <= 0:
            codec = getattr(stream.codec, "name", "") if ctx else ""
            raise InvalidArgument.field(
                field, f"has a video stream no decoder here reads (codec {codec or 'unknown'})"
            )
        if ctx.width * ctx.height > MAX_PIXELS:
            raise ResourceExhausted(
                f"{field} frames are {ctx.width}x{ctx.height}, more than {MAX_PIXELS} pixels",
                subject=field,
            )
    except Exception:
        container.close()
        raise
    return container, stream


def frame_at(data: bytes, seconds: float, field: str = "video") -> tuple[np.ndarray, float]:
    """The decoded frame nearest to `seconds` from the start, as ``uint8`` RGB.

    Args:
        data: the encoded file (any container and codec FFmpeg reads).
        seconds: wanted time, >= 0; past the end, the last frame is used.
        field: request field named in errors.

    Returns:
        (H x W x 3 frame, its presentation time in seconds from the start of the stream).

    Raises:
        InvalidArgument: the bytes are not a video, have no video stream or no decodable frame.
        ResourceExhausted: frames larger than ``MAX_PIXELS``.
    """
    return next(frames_at(data, [seconds], field))


def frames_at(
    data: bytes, times: list[float], field: str = "video"
) -> Iterator[tuple[np.ndarray, float]]:
    """The decoded frames nearest to each of `times` (seconds from the start, in increasing
    order), one seek each: what :func:`frame_at` returns, for several times in one pass.

    Raises:
        InvalidArgument, ResourceExhausted: as :func:`frame_at`.
    """
    container, stream = open_video(data, field)
    with container:
        start = float(stream.start_time * stream.time_base) if stream.start_time else 0.0
        decoder, position = None, float("-inf")
        pending: tuple[av.VideoFrame, float] | None = None  # decoded past the last time asked
        for seconds in times:
            if decoder is None or seconds - position > SEEK_AFTER:
                if seconds > 0 and stream.time_base:
                    container.seek(int((start + seconds) / stream.time_base), stream=stream)
                decoder, pending = container.decode(stream), None
            best = pending
            try:
                for frame in decoder:
                    if frame.pts is None:
                        continue
                    t = position = float(frame.pts * stream.time_base) - start
                    if best is not None and abs(t - seconds) > abs(best[1] - seconds):
                        pending = frame, t
                        break
                    best = frame, t
                else:
                    pending = best  # the end: later times get the last frame
            except av.FFmpegError as err:
                if best is None:
                    raise InvalidArgument.field(field, f"could not be decoded ({err})") from None
            if best is None:
                raise InvalidArgument.field(field, "has no decodable frame")
            yield best[0].to_ndarray(format="rgb24"), max(0.0, best[1])


CODECS = {"h264": "libx264", "h265": "libx265", "vp9": "libvpx-vp9"}
CONTAINERS = {"mp4": "video/mp4", "mkv": "video/x-matroska", "webm": "video/webm"}
DEFAULT_CRF = 20
DEFAULT_PRESET = "veryfast"
PRESETS = (
    "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow",
)  # fmt: skip
"""x264/x265 speed presets (vp9 ignores the preset: it encodes in realtime mode)."""
FINE_TIME_BASE = Fraction(1, 90000)
"""Time base of videos made at a new frame rate: whole ticks for every common rate (24, 25,
30, 48, 50, 60, 120, 240 fps) and a tenth of a millisecond at most off for any other."""


@dataclass(frozen=True)
class VideoInfo:
    """What a video holds: frame size in pixels, average frame rate (frames per second),
    frame count and duration in seconds (0 when the container does not say), audio or not."""

    width: int
    height: int
    fps: float
    frames: int
    duration: float
    has_audio: bool


@dataclass(frozen=True)
class Frame:
    """One decoded frame: ``index`` from 0, presentation time ``seconds`` from the start,
    ``rgb`` ``uint8`` ``(H, W, 3)``, and ``pts`` in the stream's time base (for re-encoding)."""

    index: int
    seconds: float
    rgb: np.ndarray
    pts: int


@dataclass(frozen=True)
class TimeRange:
    """A span of a video in seconds from its start: ``start`` included, ``end`` excluded
    (``inf`` for the end of the stream)."""

    start: float = 0.0
    end: float = float("inf")

    def __contains__(self, seconds: float) -> bool:
        return self.start <= seconds < self.end


@dataclass(frozen=True)
class Encoding:
    """Output codec (a key of :data:`CODECS`), constant rate factor 0-51, x264/x265 preset
    and container (a key of :data:`CONTAINERS`)."""

    codec: str = "h264"
    crf: int = DEFAULT_CRF
    preset: str = DEFAULT_PRESET
    container: str = "mp4"

    def __post_init__(self) -> None:
        if self.codec not in CODECS:
            raise ValueError(f"codec must be one of {sorted(CODECS)}, not {self.codec!r}")
        if self.container not in CONTAINERS:
            raise ValueError(
                f"container must be one of {sorted(CONTAINERS)}, not {self.container!r}"
            )
        if self.container == "webm" and self.codec != "vp9":
            raise ValueError("a webm container holds vp9 only")
        if not 0 <= self.crf <= 51:
            raise ValueError(f"crf must be in 0..51, not {self.crf}")
        if self.preset not in PRESETS:
            raise ValueError(f"preset must be one of {', '.join(PRESETS)}, not {self.preset!r}")


class VideoReader:
    """Frames of a video decoded one at a time (memory does not grow with its length).

    Args:
        source: a file path or the encoded bytes.
        field: request field named in errors.

    Raises:
        InvalidArgument: not a video, no video stream.
        ResourceExhausted: frames larger than ``MAX_PIXELS``.
    """

    def __init__(self, source: str | bytes, field: str = "video"):
        self.field = field
        self.container, self.stream = open_video(source, field)
        ctx = self.stream.codec_context
        self.stream.thread_type = "AUTO"
        self.audio = self.container.streams.audio[0] if self.container.streams.audio else None
        rate = self.stream.average_rate or self.stream.guessed_rate
        duration = (
            float(self.stream.duration * self.stream.time_base)
            if self.stream.duration
            else (self.container.duration or 0) / 1e6
        )
        self.info = VideoInfo(
            width=ctx.width,
            height=ctx.height,
            fps=float(rate) if rate else 0.0,
            frames=int(self.stream.frames or round(duration * float(rate or 0))),
            duration=duration,
            has_audio=self.audio is not None,
        )
        self._start = self.stream.start_time or 0
        self.skipped = 0
        """Video packets :meth:`frames` skipped because they did not decode."""

    def frames(self, on_audio: Callable[[av.Packet], None] | None = None) -> Iterator[Frame]:
        """Decoded frames in presentation order; audio packets met on the way go to
        ``on_audio`` (for remuxing) in file order.

        A video packet the decoder refuses (corrupt data mid-stream) is skipped, counted in
        :attr:`skipped` and logged; decoding goes on with the next one.

        Raises:
            InvalidArgument: the file breaks before any frame decodes, or no frame decodes.
        """
        streams = [self.stream] + ([self.audio] if self.audio and on_audio else [])
        index = 0
        try:
            for packet in self.container.demux(streams):
                if packet.stream is self.audio:
                    if packet.dts is not None:
                        on_audio(packet)
                    continue
                try:
                    decoded = packet.decode()
                except av.FFmpegError as err:
                    self.skipped += 1
                    log.warning(
                        "%s: skipped an undecodable packet at %s: %s", self.field, packet.pts, err
                    )
                    continue
                for frame in decoded:
                    pts = (frame.pts if frame.pts is not None else index) - self._start
                    seconds = float(pts * self.stream.time_base) if self.stream.time_base else 0
                    yield Frame(index, seconds, frame.to_ndarray(format="rgb24"), pts)
                    index += 1
        except av.FFmpegError as err:
            if index == 0:
                raise InvalidArgument.field(self.field, f"could not be decoded ({err})") from None
            log.warning("%s: decoding stopped after %d frames: %s", self.field, index, err)
        if index == 0:
            raise InvalidArgument.field(self.field, "has no decodable frame")

    def close(self) -> None:
        self.container.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class VideoWriter:
    """Encode frames to a file, keeping the source's timestamps (variable frame rates stay
    variable) and copying its audio packets unchanged.

    Odd frame sizes are encoded in 4:4:4 (4:2:0 needs even sizes), so the output keeps the
    input's exact size. ``audio=False`` leaves the audio out (e.g. for a mask video).
    ``rate`` (frames per second) makes a video of another frame rate than the source's: its
    timestamps are then in :data:`FINE_TIME_BASE`, not the source's time base.
    """

    def __init__(
        self,
        path: str,
        reader: VideoReader,
        encoding: Encoding = Encoding(),
        audio: bool = True,
        rate: Fraction | None = None,
    ):
        self.container = av.open(path, mode="w", format=encoding.container)
        source = reader.stream
        time_base = FINE_TIME_BASE if rate else source.time_base
        rate = rate or source.average_rate or source.guessed_rate or Fraction(25)
        self.stream = self.container.add_stream(CODECS[encoding.codec], rate=rate)
        self.stream.width, self.stream.height = reader.info.width, reader.info.height
        odd = reader.info.width % 2 or reader.info.height % 2
        self.stream.pix_fmt = "yuv444p" if odd else "yuv420p"
        self.stream.time_base = time_base
        self.stream.codec_context.time_base = time_base
        options = {"crf": str(encoding.crf)}
        if encoding.codec == "vp9":
            options |= {"b": "0", "deadline": "realtime", "cpu-used": "8", "row-mt": "1"}
        else:
            options["preset"] = encoding.preset
        self.stream.options = options
        self.audio = None
        if audio and reader.audio is not None:
            self.audio = self.container.add_stream_from_template(reader.audio)
        self.media_type = CONTAINERS[encoding.container]

    @property
    def time_base(self) -> Fraction:
        """The unit of :meth:`write`'s ``pts``: the source's time base, or
        :data:`FINE_TIME_BASE` at another frame rate."""
        return self.stream.codec_context.time_base

    def write(self, rgb: np.ndarray, pts: int) -> None:
        """Encode one ``uint8`` RGB frame shown at ``pts`` (:attr:`time_base` units)."""
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame.pts = pts
        frame.time_base = self.stream.codec_context.time_base
        self.container.mux(self.stream.encode(frame))

    def mux_audio(self, packet: av.Packet) -> None:
        """Copy one of the source's audio packets to the output."""
        if self.audio is not None:
            packet.stream = self.audio
            self.container.mux(packet)

    def close(self) -> None:
        """Flush the encoder and finish the file."""
        self.container.mux(self.stream.encode(None))
        self.container.close()

    def abandon(self) -> None:
        """Close the file without finishing it (after a failure; the file is not playable)."""
        self.container.close()
