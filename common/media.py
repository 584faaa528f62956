"""Safe image decoding and encoding for untrusted bytes.

Decoding reads the header first and refuses decompression bombs before any pixel is allocated;
corrupt, truncated and unsupported data become INVALID_ARGUMENT naming the field, never a crash.
Pixels are numpy arrays, uint8, RGB (H, W, 3) or RGBA (H, W, 4).
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable

import cv2
import numpy as np
from PIL import Image as PILImage
from PIL import ImageOps

from common.errors import InvalidArgument, ResourceExhausted
from vipro.v1 import common_pb2

MAX_PIXELS = 100_000_000
"""Largest decoded image, in pixels (100 MP, e.g. 10000x10000)."""

JPEG_MIN_PIXELS_PER_BYTE = 1000
"""A JPEG of a flat grey picture, the most compressible there is, takes 5.9 bytes per 1000
pixels (libjpeg, progressive, 4:2:0, measured): 1000 pixels per byte leaves a 6x margin."""

_FORMATS = {"PNG", "JPEG", "MPO", "WEBP", "BMP", "TIFF", "GIF", "PPM"}
"""Pillow format names accepted; MPO is the multi-picture JPEG many phone cameras write."""
_MEDIA_TYPES = {
    common_pb2.IMAGE_FORMAT_PNG: ("image/png", ".png"),
    common_pb2.IMAGE_FORMAT_JPEG: ("image/jpeg", ".jpg"),
    common_pb2.IMAGE_FORMAT_WEBP: ("image/webp", ".webp"),
}

# Pillow's own bomb guard raises at 2x its limit; ours runs first with a clearer message.
PILImage.MAX_IMAGE_PIXELS = None


def decode_image(
    data: bytes,
    field: str = "image",
    max_pixels: int = MAX_PIXELS,
    alpha: bool = True,
    admit: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Decode encoded image bytes to uint8 RGB or RGBA pixels.

    Grey, palette, CMYK and 16-bit images are converted to 8-bit RGB(A); EXIF orientation is
    applied. Animated images yield their first frame.

    Args:
        data: encoded bytes (PNG, JPEG, WebP, BMP, TIFF, GIF, PPM).
        field: request field name used in error details.
        max_pixels: refuse images with more pixels than this (decompression bombs).
        alpha: keep an alpha channel when the image has one (RGBA); False flattens to RGB.
        admit: called with (width, height) once the header is read and checked, before any
            pixel is decoded; it raises to refuse (e.g. a memory budget).

    Raises:
        InvalidArgument: empty, not an image, unsupported, corrupt or truncated data; a JPEG
            too short for the size its header claims.
        ResourceExhausted: more than `max_pixels` pixels (or what `admit` raises).
    """
    if not data:
        raise InvalidArgument.field(field, "is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = PILImage.open(io.BytesIO(data))
    except PILImage.UnidentifiedImageError:
        raise InvalidArgument.field(field, "is not a supported image") from None
    except Exception as exc:
        raise InvalidArgument.field(field, f"cannot be read: {exc}") from None
    if img.format not in _FORMATS:
        raise InvalidArgument.field(field, f"has unsupported format {img.format}")
    width, height = img.size
    if width < 1 or height < 1:
        raise InvalidArgument.field(field, f"has an empty size {width}x{height}")
    if width * height > max_pixels:
        raise ResourceExhausted(
            f"{field} is {width}x{height} pixels, more than the {max_pixels} allowed",
            subject=field,
        )
    if img.format in ("JPEG", "MPO") and len(data) * JPEG_MIN_PIXELS_PER_BYTE < width * height:
        # libjpeg fills what a short file lacks with grey, so a 15 KB file whose header says
        # 10000x10000 would decode to 300 MB.
        raise InvalidArgument.field(
            field,
            f"is a {len(data)}-byte JPEG claiming {width}x{height} pixels: truncated or forged "
            f"(a JPEG holds at most {JPEG_MIN_PIXELS_PER_BYTE} pixels per byte)",
        )
    if admit is not None:
        admit(width, height)
    try:
        img.load()
    except Exception as exc:
        raise InvalidArgument.field(field, f"is corrupt or truncated: {exc}") from None
    return _to_rgb8(img, alpha)


def _to_rgb8(img: PILImage.Image, alpha: bool) -> np.ndarray:
    img = ImageOps.exif_transpose(img)
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        wide = np.asarray(img, dtype=np.uint32 if img.mode == "I" else np.uint16)
        peak = 65535 if img.mode != "I" else max(int(wide.max()), 1)
        grey = (wide.astype(np.float64) * (255.0 / peak) + 0.5).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if img.mode == "F":
        grey = np.clip(np.asarray(img), 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    has_alpha = img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)
    target = "RGBA" if (alpha and has_alpha) else "RGB"
    if img.mode != target:
        img = img.convert(target)
    return np.asarray(img)


def decode_mask(data: bytes, field: str, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Decode a mask to uint8 (H, W); colour masks are reduced to luminance, RGBA to alpha.

    Raises:
        InvalidArgument: as `decode_image`, or when `shape` (H, W) is given and differs.
    """
    pixels = decode_image(data, field)
    if pixels.shape[2] == 4:
        mask = pixels[:, :, 3]
    else:
        mask = cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY)
    if shape is not None and mask.shape != tuple(shape):
        raise InvalidArgument.field(
            field, f"is {mask.shape[1]}x{mask.shape[0]}, must match the image {shape[1]}x{shape[0]}"
        )
    return np.ascontiguousarray(mask)


def encode_image(
    pixels: np.ndarray, fmt: int = common_pb2.IMAGE_FORMAT_UNSPECIFIED, quality: int = 0
) -> tuple[bytes, str]:
    """Encode uint8 pixels (H, W), (H, W, 3) RGB or (H, W, 4) RGBA.

    Args:
        pixels: the image.
        fmt: a vipro.v1.ImageFormat; UNSPECIFIED picks PNG for alpha, masks and images up to
            1 MP, JPEG otherwise.
        quality: JPEG/WebP quality 1-100; 0 means 90.

    Returns:
        (encoded bytes, media type).
    """
    if pixels.dtype != np.uint8 or pixels.ndim not in (2, 3):
        raise ValueError(f"expected uint8 (H, W[, C]) pixels, got {pixels.dtype} {pixels.shape}")
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    if fmt == common_pb2.IMAGE_FORMAT_UNSPECIFIED:
        small = pixels.shape[0] * pixels.shape[1] <= 1_000_000
        fmt = (
            common_pb2.IMAGE_FORMAT_PNG
            if channels in (1, 4) or small
            else (common_pb2.IMAGE_FORMAT_JPEG)
        )
    media_type, ext = _MEDIA_TYPES[fmt]
    if channels == 4 and fmt == common_pb2.IMAGE_FORMAT_JPEG:
        raise ValueError("JPEG cannot carry alpha; flatten first")
    bgr = pixels
    if channels == 3:
        bgr = cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR)
    elif channels == 4:
        bgr = cv2.cvtColor(pixels, cv2.COLOR_RGBA2BGRA)
    q = quality or 90
    params = {
        common_pb2.IMAGE_FORMAT_PNG: [cv2.IMWRITE_PNG_COMPRESSION, 3],
        common_pb2.IMAGE_FORMAT_JPEG: [cv2.IMWRITE_JPEG_QUALITY, q],
        common_pb2.IMAGE_FORMAT_WEBP: [cv2.IMWRITE_WEBP_QUALITY, q],
    }[fmt]
    ok, buf = cv2.imencode(ext, bgr, params)
    if not ok:
        raise ValueError(f"encoding {media_type} failed")
    return buf.tobytes(), media_type


def flatten(pixels: np.ndarray, background: tuple[int, int, int] = (255, 255, 255)) -> np.ndarray:
    """Composite RGBA over an opaque background colour; RGB passes through."""
    if pixels.ndim == 3 and pixels.shape[2] == 4:
        alpha = pixels[:, :, 3:4].astype(np.float32) / 255.0
        bg = np.asarray(background, np.float32)
        rgb = pixels[:, :, :3].astype(np.float32) * alpha + bg * (1.0 - alpha)
        return (rgb + 0.5).astype(np.uint8)
    return pixels
