"""Video decoding with PyAV (FFmpeg's libraries, bundled in the wheel).

Bad input (not a video, no video stream, truncated, a frame beyond the pixel limit) raises
``InvalidArgument`` or ``ResourceExhausted`` naming the request field, never a crash.
"""

from __future__ import annotations

import io

import av
import numpy as np

from common.errors import InvalidArgument, ResourceExhausted
from common.media import MAX_PIXELS


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
    try:
        container = av.open(io.BytesIO(data), mode="r")
    except (av.FFmpegError, ValueError, OSError) as err:
        raise InvalidArgument.field(field, f"is not a readable video ({err})") from None
    with container:
        if not container.streams.video:
            raise InvalidArgument.field(field, "has no video stream")
        stream = container.streams.video[0]
        if stream.codec_context.width * stream.codec_context.height > MAX_PIXELS:
            raise ResourceExhausted(
                f"{field} frames are {stream.codec_context.width}x{stream.codec_context.height}, "
                f"more than {MAX_PIXELS} pixels",
                subject=field,
            )
        start = float(stream.start_time * stream.time_base) if stream.start_time else 0.0
        best, best_time = None, 0.0
        try:
            if seconds > 0 and stream.time_base:
                container.seek(int((start + seconds) / stream.time_base), stream=stream)
            for frame in container.decode(stream):
                if frame.pts is None:
                    continue
                t = float(frame.pts * stream.time_base) - start
                if best is not None and abs(t - seconds) > abs(best_time - seconds):
                    break
                best, best_time = frame, t
        except av.FFmpegError as err:
            if best is None:
                raise InvalidArgument.field(field, f"could not be decoded ({err})") from None
        if best is None:
            raise InvalidArgument.field(field, "has no decodable frame")
        return best.to_ndarray(format="rgb24"), max(0.0, best_time)
