"""Proto <-> numpy adapters shared by capability handlers, one place each.

Handlers turn request messages into arrays and plain values, call an algorithm, and turn its
results back into messages; the conversions they share live here: boxes, polygons, sizes,
colours, palettes, mask output options, alpha kept from the input, time ranges and video
encodings. Positions are in pixels (origin top-left, x right, y down), colours 0-255.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from common import video
from common.errors import InvalidArgument
from vipro.v1 import common_pb2

WHITE = (255, 255, 255)


def box(
    x: float, y: float, width: float, height: float, score: float = 0.0, label: str = ""
) -> common_pb2.Box:
    """A Box message from its left, top, width and height (pixels)."""
    return common_pb2.Box(
        x=float(x), y=float(y), width=float(width), height=float(height), score=score, label=label
    )


def bounds(message: common_pb2.Box) -> tuple[int, int, int, int]:
    """A Box as integer (x0, y0, x1, y1), rounded outwards so it covers every pixel it
    touches (x1, y1 excluded)."""
    return (
        int(np.floor(message.x)),
        int(np.floor(message.y)),
        int(np.ceil(message.x + message.width)),
        int(np.ceil(message.y + message.height)),
    )


def bounding_box(points: np.ndarray, score: float = 0.0, label: str = "") -> common_pb2.Box:
    """The axis-aligned Box around ``(N, 2)`` points (x, y)."""
    (x0, y0), (x1, y1) = np.min(points, axis=0), np.max(points, axis=0)
    return box(x0, y0, x1 - x0, y1 - y0, score, label)


def polygon(points: Iterable[tuple[float, float]], score: float = 0.0, label: str = ""):
    """A Polygon message from vertices (x, y) in order."""
    message = common_pb2.Polygon(score=score, label=label)
    for x, y in points:
        message.points.add(x=float(x), y=float(y))
    return message


def points(message: common_pb2.Polygon) -> np.ndarray:
    """A Polygon's vertices as ``float32`` ``(N, 2)`` (x, y)."""
    return np.array([[p.x, p.y] for p in message.points], np.float32).reshape(-1, 2)


def size(width: int, height: int) -> common_pb2.Size:
    """A Size message (pixels)."""
    return common_pb2.Size(width=int(width), height=int(height))


def size_of(pixels: np.ndarray) -> common_pb2.Size:
    """The Size of an ``(H, W, ...)`` array."""
    return size(pixels.shape[1], pixels.shape[0])


def color(message: common_pb2.Color, default: tuple[int, int, int] = WHITE) -> tuple[int, int, int]:
    """(r, g, b) of a Color message; ``default`` when the message is unset (empty)."""
    return (message.r, message.g, message.b) if message.ByteSize() else default


def color_message(rgb: Iterable[int]) -> common_pb2.Color:
    """A Color message from (r, g, b), 0-255."""
    r, g, b = (int(c) for c in rgb)
    return common_pb2.Color(r=r, g=g, b=b)


def palette(message: common_pb2.Palette, field: str = "palette") -> tuple[np.ndarray, np.ndarray]:
    """A Palette as (``uint8`` ``(N, 3)`` colours, ``float64`` ``(N,)`` weights summing to 1;
    equal weights when the message gives none).

    Raises:
        InvalidArgument: weights given for a different number of colours, or all zero.
    """
    colors = np.array([color(c) for c in message.colors], np.uint8).reshape(-1, 3)
    if not message.weights:
        return colors, np.full(len(colors), 1.0 / max(len(colors), 1))
    weights = np.array(message.weights, np.float64)
    if len(weights) != len(colors):
        raise InvalidArgument.field(
            f"{field}.weights", f"has {len(weights)} values for {len(colors)} colours"
        )
    if weights.sum() <= 0:
        raise InvalidArgument.field(f"{field}.weights", "are all zero")
    return colors, weights / weights.sum()


def palette_message(
    colors: np.ndarray, weights: np.ndarray | None = None, name: str = ""
) -> common_pb2.Palette:
    """A Palette message from ``(N, 3)`` colours and optional ``(N,)`` weights."""
    message = common_pb2.Palette(name=name, colors=[color_message(c) for c in colors])
    if weights is not None:
        message.weights.extend(float(w) for w in weights)
    return message


def png(delivery: int = common_pb2.DELIVERY_UNSPECIFIED) -> common_pb2.OutputOptions:
    """Output options for a mask or matte: lossless PNG, delivered as the caller asked."""
    return common_pb2.OutputOptions(format=common_pb2.IMAGE_FORMAT_PNG, delivery=delivery)


def keep_alpha(out: np.ndarray, source: np.ndarray) -> np.ndarray:
    """``out`` (RGB, same size as ``source``) with ``source``'s alpha appended when it has
    one, so a transparent input stays transparent."""
    if source.ndim == 3 and source.shape[2] == 4:
        return np.dstack([out[..., :3], source[..., 3]])
    return out


def time_range(message: common_pb2.TimeRange) -> video.TimeRange:
    """A TimeRange as seconds; an end of 0 means the end of the stream. (The contract's rule
    that the end follows the start is checked before any handler runs.)"""
    return video.TimeRange(message.start_seconds, message.end_seconds or float("inf"))


def encoding(message: common_pb2.VideoEncoding, field: str = "encoding") -> video.Encoding:
    """The output encoding a request asks for (defaults: h264, crf 20, veryfast, mp4; webm
    for vp9).

    Raises:
        InvalidArgument: an unknown codec, container or preset, or a crf outside 0-51.
    """
    container = message.container or ("webm" if message.codec == "vp9" else "mp4")
    try:
        return video.Encoding(
            codec=message.codec or "h264",
            crf=message.crf or video.DEFAULT_CRF,
            preset=message.preset or video.DEFAULT_PRESET,
            container=container,
        )
    except ValueError as exc:
        raise InvalidArgument.field(field, str(exc)) from None
