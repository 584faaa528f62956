"""Spans of a video joined into one shorter video (a skim, a trailer), audio included.

The pictures of each span are re-encoded with new timestamps, one span straight after the
other. The audio is decoded, cut to the same spans sample by sample, faded in and out over
:data:`FADE_SECONDS` at every join (a hard cut in a waveform clicks) and encoded again (AAC,
or Opus in WebM), so sound and picture stay in step however the spans fall between packets.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import av
import numpy as np

from common import video

DEFAULT_ENCODING = video.Encoding()
FADE_SECONDS = 0.05
"""Length of the fade in and out of the audio at each join."""


def splice(
    data: bytes,
    spans: Sequence[video.TimeRange],
    path: str,
    encoding: video.Encoding = DEFAULT_ENCODING,
    field: str = "video",
    check_cancelled: Callable[[], None] = lambda: None,
) -> int:
    """Write the frames of ``data`` shown within ``spans`` (seconds of the source, in time
    order, not overlapping) to ``path``, one span after the other, with the audio of the same
    spans. Returns the number of frames written.

    Raises:
        InvalidArgument, ResourceExhausted: ``data`` is not a readable video (see
            :class:`video.VideoReader`).
        Cancelled: raised by ``check_cancelled``, called before each frame.
        ValueError: spans out of order or overlapping.
    """
    if any(b.start < a.end for a, b in itertools.pairwise(spans)):
        raise ValueError("spans must be in time order and not overlap")
    offsets = np.concatenate([[0.0], np.cumsum([s.end - s.start for s in spans])])
    with video.VideoReader(data, field) as reader:
        writer = video.VideoWriter(path, reader, encoding, audio=False)
        audio = _AudioSplicer(writer.container, reader, spans, offsets, encoding)
        written, finished = 0, False
        try:
            time_base = float(writer.stream.time_base)
            on_audio = audio.push if audio.wanted else None
            for frame in reader.frames(on_audio=on_audio):
                check_cancelled()
                for k, span in enumerate(spans):
                    if frame.seconds in span:
                        seconds = offsets[k] + frame.seconds - span.start
                        writer.write(frame.rgb, round(seconds / time_base))
                        written += 1
                        break
                if frame.seconds >= spans[-1].end + 1.0:  # audio may trail the pictures
                    break
            audio.close()
            writer.close()
            finished = True
        finally:
            if not finished:
                writer.abandon()
    return written


class _AudioSplicer:
    """The source's first audio track cut to the spans, faded at every join and encoded into
    ``container`` (no track when the source has none)."""

    def __init__(
        self,
        container: av.container.OutputContainer,
        reader: video.VideoReader,
        spans: Sequence[video.TimeRange],
        offsets: np.ndarray,
        encoding: video.Encoding,
    ):
        self.spans, self.offsets = spans, offsets
        self.wanted = reader.audio is not None
        if not self.wanted:
            return
        source = reader.audio.codec_context
        webm = encoding.container == "webm"
        self.rate = 48000 if webm else source.sample_rate
        layout = source.layout.name if source.layout else "stereo"
        self.stream = container.add_stream("libopus" if webm else "aac", rate=self.rate)
        self.stream.layout = layout
        self.resampler = av.AudioResampler(format="fltp", layout=layout, rate=self.rate)
        self.frame_size = self.stream.codec_context.frame_size or 1024
        self.layout = layout
        self.start = float(reader.stream.start_time * reader.stream.time_base or 0)
        self.pending = np.zeros((len(self.stream.layout.channels), 0), np.float32)
        self.written = 0

    def push(self, packet: av.Packet) -> None:
        """Decode one source packet and keep what falls in the spans."""
        for decoded in packet.decode():
            for frame in self.resampler.resample(decoded):
                self._keep(frame)

    def _keep(self, frame: av.AudioFrame) -> None:
        samples = frame.to_ndarray()
        begin = float(frame.pts * frame.time_base) - self.start
        times = begin + np.arange(samples.shape[1]) / self.rate
        for span in self.spans:
            inside = (times >= span.start) & (times < span.end)
            if not inside.any():
                continue
            t = times[inside]
            gain = np.clip(np.minimum(t - span.start, span.end - t) / FADE_SECONDS, 0.0, 1.0)
            self.pending = np.concatenate([self.pending, samples[:, inside] * gain], axis=1)
        while self.pending.shape[1] >= self.frame_size:
            self._encode(self.pending[:, : self.frame_size])
            self.pending = self.pending[:, self.frame_size :]

    def _encode(self, samples: np.ndarray) -> None:
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples, np.float32), format="fltp", layout=self.layout
        )
        frame.sample_rate, frame.pts = self.rate, self.written
        self.written += samples.shape[1]
        self.stream.container.mux(self.stream.encode(frame))

    def close(self) -> None:
        """Encode what is left and flush the encoder."""
        if not self.wanted:
            return
        for frame in self.resampler.resample(None):
            self._keep(frame)
        if self.pending.shape[1]:
            self._encode(self.pending)
        self.stream.container.mux(self.stream.encode(None))
