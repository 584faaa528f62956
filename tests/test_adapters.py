"""common.adapters: proto messages <-> numpy and plain values, one place each."""

from __future__ import annotations

import math

import numpy as np
import pytest

from common import adapters
from common.errors import InvalidArgument
from vipro.v1 import common_pb2


def test_boxes_polygons_and_sizes_round_trip():
    corners = np.array([[10.5, 4.0], [30.0, 6.0], [29.0, 20.25], [9.0, 18.0]], np.float32)
    polygon = adapters.polygon(corners, 0.75, "text")
    assert np.array_equal(adapters.points(polygon), corners)
    assert (polygon.score, polygon.label) == (0.75, "text")
    box = adapters.bounding_box(corners, 0.75, "text")
    assert (box.x, box.y, box.width, box.height) == (9.0, 4.0, 21.0, 16.25)
    assert adapters.points(common_pb2.Polygon()).shape == (0, 2)
    assert adapters.size_of(np.zeros((7, 11, 3))) == common_pb2.Size(width=11, height=7)


def test_colours_default_only_when_unset():
    assert adapters.color(common_pb2.Color()) == (255, 255, 255)
    assert adapters.color(common_pb2.Color(), (1, 2, 3)) == (1, 2, 3)
    assert adapters.color(common_pb2.Color(r=0, g=0, b=0, alpha=1.0)) == (0, 0, 0)  # black
    assert adapters.color(adapters.color_message(np.array([9, 8, 7]))) == (9, 8, 7)


def test_palettes_normalise_weights_and_reject_mismatches():
    colours = np.array([[255, 0, 0], [0, 0, 255]], np.uint8)
    message = adapters.palette_message(colours, np.array([3.0, 1.0]), "duo")
    got, weights = adapters.palette(message)
    assert np.array_equal(got, colours) and np.allclose(weights, [0.75, 0.25])
    _, equal = adapters.palette(adapters.palette_message(colours))
    assert np.allclose(equal, [0.5, 0.5])
    message.weights.append(1.0)
    with pytest.raises(InvalidArgument, match=r"palette\.weights: has 3 values for 2 colours"):
        adapters.palette(message)


def test_alpha_is_kept_only_when_the_source_has_one():
    rgba = np.dstack([np.zeros((4, 5, 3), np.uint8), np.full((4, 5), 7, np.uint8)])
    out = np.full((4, 5, 3), 200, np.uint8)
    assert np.array_equal(adapters.keep_alpha(out, rgba)[..., 3], rgba[..., 3])
    assert adapters.keep_alpha(out, rgba[..., :3]) is out


def test_time_ranges_and_encodings():
    span = adapters.time_range(common_pb2.TimeRange(start_seconds=1.5))
    assert span.start == 1.5 and math.isinf(span.end) and 99.0 in span and 1.0 not in span
    assert adapters.encoding(common_pb2.VideoEncoding(codec="vp9")).container == "webm"
    with pytest.raises(InvalidArgument, match=r"encoding: codec must be one of"):
        adapters.encoding(common_pb2.VideoEncoding(codec="prores"))
