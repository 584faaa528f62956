"""Decoding untrusted image bytes: every bad input is a clean error, never a crash."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image as PILImage

from bench.fuzz import png_claiming
from common.errors import InvalidArgument, ResourceExhausted
from common.media import decode_image, decode_mask, encode_image, flatten
from vipro.v1 import common_pb2


def pil_bytes(image: PILImage.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **kwargs)
    return buf.getvalue()


def test_empty_bytes():
    with pytest.raises(InvalidArgument, match="empty"):
        decode_image(b"", "image")


def test_not_an_image():
    with pytest.raises(InvalidArgument, match="not a supported image"):
        decode_image(b"%PDF-1.7 this is a document", "image")


def test_decompression_bomb_is_refused_before_decoding():
    with pytest.raises(ResourceExhausted, match="20000x20000"):
        decode_image(png_claiming(20000, 20000), "image")


def test_truncated_jpeg():
    rgb = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    data = cv2.imencode(".jpg", rgb)[1].tobytes()
    with pytest.raises(InvalidArgument, match="corrupt or truncated"):
        decode_image(data[: len(data) // 2], "image")


def test_one_by_one_pixel_decodes():
    assert decode_image(pil_bytes(PILImage.new("RGB", (1, 1), (9, 8, 7)), "PNG")).shape == (1, 1, 3)


def test_cmyk_jpeg_becomes_rgb():
    out = decode_image(pil_bytes(PILImage.new("CMYK", (8, 4), (0, 255, 255, 0)), "JPEG"))
    assert out.shape == (4, 8, 3)
    assert out[0, 0, 0] > 200 and out[0, 0, 1] < 60  # red


def test_sixteen_bit_png_is_scaled_to_eight_bits():
    wide = np.full((5, 6), 65535, np.uint16)
    wide[0, 0] = 0
    out = decode_image(cv2.imencode(".png", wide)[1].tobytes())
    assert out.dtype == np.uint8 and out.shape == (5, 6, 3)
    assert out[1, 1, 0] == 255 and out[0, 0, 0] == 0


def test_grey_and_palette_pngs_become_rgb():
    grey = decode_image(pil_bytes(PILImage.new("L", (3, 2), 77), "PNG"))
    assert grey.shape == (2, 3, 3) and (grey == 77).all()
    palette = PILImage.new("P", (4, 4))
    palette.putpalette([10, 20, 30] * 256)
    assert (decode_image(pil_bytes(palette, "PNG"))[0, 0] == (10, 20, 30)).all()


def test_alpha_is_kept_or_flattened():
    rgba = PILImage.new("RGBA", (2, 2), (255, 0, 0, 0))
    data = pil_bytes(rgba, "PNG")
    assert decode_image(data).shape == (2, 2, 4)
    assert decode_image(data, alpha=False).shape == (2, 2, 3)


def test_mask_must_match_the_image_size():
    mask = cv2.imencode(".png", np.zeros((4, 4), np.uint8))[1].tobytes()
    assert decode_mask(mask, "mask", (4, 4)).shape == (4, 4)
    with pytest.raises(InvalidArgument, match="must match"):
        decode_mask(mask, "mask", (5, 4))


def test_encode_round_trips_losslessly_in_png():
    rgba = np.random.default_rng(2).integers(0, 256, (7, 9, 4), dtype=np.uint8)
    data, media_type = encode_image(rgba, common_pb2.IMAGE_FORMAT_PNG)
    assert media_type == "image/png"
    assert np.array_equal(decode_image(data), rgba)


def test_flatten_composites_over_the_background():
    rgba = np.zeros((1, 2, 4), np.uint8)
    rgba[0, 0] = (255, 0, 0, 255)
    rgba[0, 1] = (255, 0, 0, 0)
    out = flatten(rgba, (0, 0, 255))
    assert out[0, 0].tolist() == [255, 0, 0] and out[0, 1].tolist() == [0, 0, 255]
