"""Synthetic clips with exact truth for the video-erase tests and benchmarks.

A camera pans (and optionally stands still) over a large generated scene; captions that change
every ``caption_seconds`` are drawn in the bottom band (white with a dark outline, Latin or
Chinese when a CJK font is installed) and a semi-transparent logo sits in the top-right corner.
The clean frames are the truth of what an eraser should restore; the overlay masks say where.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

CAPTIONS = [
    "The sea was calm that morning",
    "We walked along the harbour",
    "Nobody said a word",
    "Then the bells began to ring",
]
CHINESE_CAPTIONS = ["今天天气很好", "我们一起去海边", "限时特价商品", "欢迎下次光临"]
CJK_FONTS = [
    *Path("/usr/share/fonts").rglob("wqy-microhei.ttc"),
    *Path("/usr/share/fonts").rglob("NotoSansCJK-Regular.ttc"),
]


@dataclass
class Clip:
    """``clean`` and ``frames`` (``uint8`` RGB, N x H x W x 3), ``captions`` and ``logo``
    (``bool`` N x H x W: pixels the overlays changed), frame rate."""

    clean: np.ndarray
    frames: np.ndarray
    captions: np.ndarray
    logo: np.ndarray
    fps: float


def scene(height: int, width: int, seed: int) -> np.ndarray:
    """A large picture with structure at every scale: soft colour regions, hard-edged shapes,
    and fine grain (``uint8`` RGB)."""
    rng = np.random.default_rng(seed)
    canvas = np.zeros((height, width, 3), np.float32)
    for _ in range(40):
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        axes = (
            int(rng.integers(width // 30, width // 5)),
            int(rng.integers(height // 30, height // 5)),
        )
        colour = tuple(float(c) for c in rng.uniform(0, 255, 3))
        cv2.ellipse(canvas, centre, axes, float(rng.uniform(0, 180)), 0, 360, colour, -1)
    canvas = cv2.GaussianBlur(canvas, (0, 0), 1.5)
    for _ in range(60):
        p = rng.integers(0, [width, height], size=(2, 2))
        colour = tuple(float(c) for c in rng.uniform(0, 255, 3))
        cv2.line(
            canvas, tuple(map(int, p[0])), tuple(map(int, p[1])), colour, int(rng.integers(1, 5))
        )
    grain = cv2.GaussianBlur(rng.normal(0, 1, (height, width, 1)).astype(np.float32), (0, 0), 0.8)
    return np.clip(canvas + 12 * grain[..., None], 0, 255).astype(np.uint8)


def _font(size: int, chinese: bool) -> ImageFont.FreeTypeFont:
    if chinese and CJK_FONTS:
        return ImageFont.truetype(str(CJK_FONTS[0]), size)
    return ImageFont.load_default(size=size)


def make_clip(
    seed: int = 0,
    size: tuple[int, int] = (180, 320),
    frames: int = 45,
    fps: float = 15.0,
    pan: tuple[float, float] = (2.0, 0.5),
    caption_seconds: float = 1.0,
    chinese: bool = False,
    logo: bool = True,
    emblem: bool = False,
) -> Clip:
    """A clip of ``frames`` frames of ``size`` (H, W) panning ``pan`` pixels per frame.

    Args:
        seed: scene and placement seed.
        size: frame (height, width) in pixels.
        frames: number of frames.
        fps: frame rate.
        pan: camera motion in pixels per frame (x, y); (0, 0) is a still camera.
        caption_seconds: how long each caption stays.
        chinese: Chinese captions (needs a CJK font; Latin otherwise).
        logo: draw the corner logo (the letters "TV8", 60 % opaque white).
        emblem: the logo is a graphic instead (a ring around a triangle, no letters).
    """
    h, w = size
    big = scene(h + int(abs(pan[1]) * frames) + 8, w + int(abs(pan[0]) * frames) + 8, seed)
    clean = np.empty((frames, h, w, 3), np.uint8)
    x0 = 4 if pan[0] >= 0 else big.shape[1] - w - 4
    y0 = 4 if pan[1] >= 0 else big.shape[0] - h - 4
    for i in range(frames):
        x, y = x0 + pan[0] * i, y0 + pan[1] * i
        shift = np.float32([[1, 0, -x], [0, 1, -y]])
        clean[i] = cv2.warpAffine(big, shift, (w, h), flags=cv2.INTER_LINEAR)
    return captioned(
        clean, fps, caption_seconds, chinese, "emblem" if emblem else "text" if logo else ""
    )


def captioned(
    clean: np.ndarray,
    fps: float,
    caption_seconds: float = 1.0,
    chinese: bool = False,
    logo: str = "",
) -> Clip:
    """``clean`` frames (N x H x W x 3 ``uint8`` RGB, real footage or a :func:`scene`) with
    captions changing every ``caption_seconds`` and a corner ``logo`` drawn by
    :func:`overlay`."""
    texts = CHINESE_CAPTIONS if chinese and CJK_FONTS else CAPTIONS
    out = np.empty_like(clean)
    captions = np.zeros(clean.shape[:3], bool)
    logos = np.zeros(clean.shape[:3], bool)
    for i in range(len(clean)):
        text = texts[int(i / (caption_seconds * fps)) % len(texts)]
        out[i], captions[i], logos[i] = overlay(clean[i], text, chinese, logo)
    return Clip(clean, out, captions, logos, fps)


def overlay(
    picture: np.ndarray, caption: str, chinese: bool = False, logo: str = "text"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``picture`` (``uint8`` RGB) with ``caption`` drawn as a subtitle (white, black outline,
    centred at 82 % of the height) and a 60 % opaque white logo in the top-right corner:
    ``logo`` "text" (the letters TV8), "emblem" (a ring around a triangle) or "" (none).

    Returns:
        (the picture drawn on, ``bool`` caption pixels, ``bool`` logo pixels).
    """
    h, w = picture.shape[:2]
    framed = Image.fromarray(picture)
    font = _font(max(12, h // 12), chinese)
    draw = ImageDraw.Draw(framed)
    width = draw.textlength(caption, font=font)
    draw.text(
        ((w - width) / 2, h * 0.82),
        caption,
        font=font,
        fill=(255, 255, 255),
        stroke_width=max(1, h // 120),
        stroke_fill=(0, 0, 0),
    )
    out = np.asarray(framed)
    captions = np.any(out != picture, axis=2)
    layer = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(layer)
    if logo == "emblem":
        r = h // 16
        cx, cy = w * 0.88, h * 0.1
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=255, width=max(2, r // 5))
        draw.polygon([(cx, cy - r / 2), (cx + r / 2, cy + r / 3), (cx - r / 2, cy + r / 3)], 255)
    elif logo == "text":
        font = ImageFont.load_default(size=max(10, h // 14))
        draw.text((w * 0.8, h * 0.05), "TV8", font=font, fill=255)
    alpha = np.asarray(layer)[..., None] / 255.0 * 0.6
    out = (out * (1 - alpha) + 255 * alpha).round().astype(np.uint8)
    return out, captions, alpha[..., 0] > 0


def walk(
    clean: np.ndarray, sprite: np.ndarray, alpha: np.ndarray, step: float = 4.0
) -> tuple[np.ndarray, np.ndarray]:
    """``sprite`` (``uint8`` RGB, where ``alpha`` is true; no taller than the frames) pasted on
    each of the ``clean`` frames, standing on their bottom edge and walking right ``step``
    pixels per frame from a tenth of the width.

    Returns:
        (the frames, ``bool`` pasted pixels per frame).
    """
    frames = clean.copy()
    pasted = np.zeros(clean.shape[:3], bool)
    h, w = clean.shape[1:3]
    sh, sw = alpha.shape
    for i in range(len(frames)):
        x = round(w / 10 + step * i)
        visible = min(sw, w - x)
        if visible <= 0:
            continue
        region = (slice(h - sh, h), slice(x, x + visible))
        shown = alpha[:, :visible]
        pasted[i][region] = shown
        frames[i][region][shown] = sprite[:, :visible][shown]
    return frames, pasted


def encode(
    frames: Sequence[np.ndarray],
    fps: float,
    audio: bool = False,
    crf: int = 12,
    times: list[float] | None = None,
) -> bytes:
    """An MP4 (H.264, 4:2:0 or 4:4:4 for odd sizes) of ``frames`` (``uint8`` RGB), optionally
    with a 440 Hz AAC tone, optionally shown at irregular ``times`` (seconds; a variable frame
    rate)."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
        stream.height, stream.width = frames[0].shape[:2]
        odd = stream.width % 2 or stream.height % 2
        stream.pix_fmt = "yuv444p" if odd else "yuv420p"
        stream.options = {"crf": str(crf), "preset": "veryfast"}
        stream.codec_context.time_base = Fraction(1, 1000)
        sound = container.add_stream("aac", rate=44100) if audio else None
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = round(1000 * (times[i] if times else i / fps))
            frame.time_base = Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
        if sound is not None:
            samples = round(44100 * len(frames) / fps)
            tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(samples) / 44100)).astype(np.float32)
            for start in range(0, samples, 1024):
                chunk = tone[None, start : start + 1024]
                frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
                frame.sample_rate = 44100
                frame.pts = start
                container.mux(sound.encode(frame))
            container.mux(sound.encode(None))
    return buffer.getvalue()
