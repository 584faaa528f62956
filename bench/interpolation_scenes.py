"""Synthetic 50 fps clips with exact in-between frames, for the frame-interpolation bench.

Every clip is rendered at 50 fps: the even frames are the 25 fps input, the odd ones the truth
an interpolator should produce. Pictures come from the development data in ../shared/data (T91,
Set5, Set12) and fall back to :func:`bench.video_scenes.scene` textures when it is absent.
Frames are rendered at twice the size and area-downscaled, so edges are anti-aliased as a
camera would see them.

* ``camera``: a pan, zoom (1 to 1.35) and rotation (8 degrees) with easing over a photograph.
* ``occlusion``: a slow pan with a picture cut into a soft-edged ellipse sweeping across in
  front of it (about 18 pixels between input frames), uncovering and covering background.
* ``caption``: a fast diagonal pan under a caption and a corner logo that never move.
* ``lines``: a diagonal pan over a photograph of boats and rigging with a drawn grid of 1-pixel
  lines at irregular spacing.
* ``occlusion 720p``: the occlusion clip at 1280x720, for speed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from bench.video_scenes import encode, scene
from common.video import VideoReader

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SIZE = (180, 320)
"""(height, width) of the quality clips."""


@dataclass
class InterpolationClip:
    """``frames``: ``uint8`` RGB (N x H x W x 3) at 50 fps, N odd; the input is
    ``frames[::2]`` and the truth ``frames[1::2]``. ``overlay``: ``bool`` H x W, the pixels of
    still captions and logos that are the same in every frame, or None."""

    name: str
    frames: np.ndarray
    overlay: np.ndarray | None = None
    decoded: np.ndarray | None = None
    """The input as a decoder gives it back after lossy encoding, when that is what methods
    get (:func:`compressed`)."""

    @property
    def inputs(self) -> np.ndarray:
        return self.frames[::2] if self.decoded is None else self.decoded

    @property
    def truth(self) -> np.ndarray:
        return self.frames[1::2]


def picture(name: str, seed: int) -> np.ndarray:
    """``uint8`` RGB picture ``name`` (a path under ../shared/data), or a generated
    :func:`scene` of a similar size (seeded by ``seed``) when the data is absent."""
    path = DATA / name
    if path.exists():
        return cv2.imread(str(path), cv2.IMREAD_COLOR)[..., ::-1].copy()
    return scene(320, 400, seed)


def _ease(u: np.ndarray | float) -> np.ndarray | float:
    """Smoothstep: 0 at 0, 1 at 1, zero speed at both ends."""
    return u * u * (3 - 2 * u)


def _camera(
    canvas: np.ndarray,
    size: tuple[int, int],
    centre: tuple[float, float],
    zoom: float,
    degrees: float,
) -> np.ndarray:
    """The view of ``canvas`` through a camera centred on ``centre`` (canvas pixels), showing
    ``size`` (H, W) frame pixels per canvas pixel times ``zoom``, rotated by ``degrees``."""
    h, w = size
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, zoom)
    matrix[:, 2] += (centre[0] - w / 2, centre[1] - h / 2)
    # The matrix maps frame to canvas coordinates.
    return cv2.warpAffine(
        canvas,
        matrix,
        (w, h),
        flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REFLECT,
    )


def _render(
    canvas: np.ndarray,
    size: tuple[int, int],
    frames: int,
    path: Callable,
    sprite: tuple[np.ndarray, np.ndarray] | None = None,
    sprite_path: Callable | None = None,
) -> np.ndarray:
    """``frames`` frames of ``size`` (H, W): ``path(u)`` (u in 0..1) gives the camera's
    (centre, zoom, degrees) over ``canvas``; ``sprite`` (RGB, alpha 0..1) is pasted at
    ``sprite_path(u)`` = (centre x, centre y, degrees), in frame pixels. Rendered at twice the
    size and area-downscaled."""
    h, w = size
    big = (2 * h, 2 * w)
    out = np.empty((frames, h, w, 3), np.uint8)
    for i in range(frames):
        u = i / (frames - 1)
        centre, zoom, degrees = path(u)
        view = _camera(canvas, big, centre, zoom / 2, degrees).astype(np.float32)
        if sprite is not None:
            rgb, alpha = sprite
            x, y, turn = sprite_path(u)
            sh, sw = alpha.shape
            matrix = cv2.getRotationMatrix2D((sw / 2, sh / 2), turn, 1.0)
            matrix[:, 2] += (2 * x - sw / 2, 2 * y - sh / 2)
            placed = cv2.warpAffine(
                rgb.astype(np.float32), matrix, big[::-1], flags=cv2.INTER_CUBIC
            )
            cover = cv2.warpAffine(alpha, matrix, big[::-1], flags=cv2.INTER_LINEAR)[..., None]
            view = view * (1 - cover) + placed * cover
        view = np.clip(view, 0, 255)
        out[i] = cv2.resize(view, (w, h), interpolation=cv2.INTER_AREA).round().astype(np.uint8)
    return out


def _canvas(name: str, seed: int, height: int) -> np.ndarray:
    """Picture ``name`` scaled (bicubic) to ``height`` pixels high."""
    image = picture(name, seed)
    scale = height / image.shape[0]
    return cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)


def _ellipse_sprite(name: str, seed: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Picture ``name`` scaled to ``height`` and cut into an ellipse with a soft edge
    (float32 alpha 0..1)."""
    rgb = _canvas(name, seed, height)
    sh, sw = rgb.shape[:2]
    alpha = np.zeros((sh, sw), np.float32)
    cv2.ellipse(alpha, (sw // 2, sh // 2), (sw // 2 - 6, sh // 2 - 6), 0, 0, 360, 1.0, -1)
    return rgb, cv2.GaussianBlur(alpha, (0, 0), 2.0)


def camera(size: tuple[int, int] = SIZE, frames: int = 49) -> InterpolationClip:
    """A pan, zoom and rotation with easing over a photograph of a building."""
    h = size[0]
    canvas = _canvas("T91/tt2.bmp", 1, 3 * h)
    ch, cw = canvas.shape[:2]

    def path(u: float):
        e = _ease(u)
        centre = (cw * (0.3 + 0.4 * e), ch * (0.4 + 0.2 * e))
        return centre, 1 / (1 + 0.35 * e) * ch / (2.2 * h), 8 * e

    return InterpolationClip("camera", _render(canvas, size, frames, path))


def occlusion(size: tuple[int, int] = SIZE, frames: int = 49) -> InterpolationClip:
    """A soft-edged ellipse cut from a picture of a butterfly sweeping across a slow pan over
    pebbles, turning a little as it goes."""
    h, w = size
    canvas = _canvas("T91/tt12.bmp", 2, 2 * h)
    ch, cw = canvas.shape[:2]
    sprite = _ellipse_sprite("Set5/original_GT/butterfly_GT.bmp", 3, int(2 * 0.6 * h))
    sw = sprite[1].shape[1] / 2

    def path(u: float):
        return (cw * 0.45 + 0.1 * cw * u, ch * 0.5), ch / (1.6 * h), 0.0

    def sprite_path(u: float):
        return -sw / 2 + (w + sw) * u, h * (0.55 - 0.15 * np.sin(np.pi * u)), 20 * u

    return InterpolationClip("occlusion", _render(canvas, size, frames, path, sprite, sprite_path))


def caption(size: tuple[int, int] = SIZE, frames: int = 49) -> InterpolationClip:
    """A fast diagonal pan over flowers under a white caption with a black outline and a
    corner logo, both drawn with ``cv2.putText`` at a fixed place."""
    h, w = size
    canvas = _canvas("T91/tt21.bmp", 4, 3 * h)
    ch, cw = canvas.shape[:2]

    def path(u: float):
        return (cw * (0.3 + 0.4 * u), ch * (0.35 + 0.3 * u)), ch / (2.2 * h), 0.0

    out = _render(canvas, size, frames, path)
    scale = h / 360
    text, font, size_text = "Harbour lights, 1958", cv2.FONT_HERSHEY_SIMPLEX, 1.4 * scale
    (tw, th), _ = cv2.getTextSize(text, font, size_text, 1)
    origin = ((w - tw) // 2, int(0.9 * h))
    outline = max(1, round(8 * scale))
    for frame in out:
        for colour, thickness in (((0, 0, 0), outline), ((255,) * 3, max(1, round(2 * scale)))):
            cv2.putText(frame, text, origin, font, size_text, colour, thickness, cv2.LINE_AA)
        logo = (int(0.82 * w), int(0.12 * h))
        thickness = max(2, round(4 * scale))
        cv2.putText(
            frame,
            "TV8",
            logo,
            cv2.FONT_HERSHEY_DUPLEX,
            1.6 * scale,
            (235,) * 3,
            thickness,
            cv2.LINE_AA,
        )
    # The caption and logo pixels: the pixels in their corners that never change.
    drawn = np.zeros((h, w), bool)
    drawn[: int(0.2 * h), int(0.8 * w) :] = True
    drawn[origin[1] - th - outline :, origin[0] - outline : origin[0] + tw + outline] = True
    return InterpolationClip("caption", out, drawn & (np.ptp(out, axis=0).max(axis=2) == 0))


def lines(size: tuple[int, int] = SIZE, frames: int = 49) -> InterpolationClip:
    """A diagonal pan over a photograph of boats and rigging with a drawn grid of 1-pixel dark
    lines at irregular spacing."""
    h = size[0]
    canvas = _canvas("Set12/10.png", 5, 3 * h).copy()
    ch, cw = canvas.shape[:2]
    rng = np.random.default_rng(5)
    step = h // 4
    for x in np.cumsum(rng.integers(step // 2, step, 40)):
        cv2.line(canvas, (int(x), 0), (int(x), ch), (20, 20, 20), 1)
    for y in np.cumsum(rng.integers(step // 2, step, 40)):
        cv2.line(canvas, (0, int(y)), (cw, int(y)), (20, 20, 20), 1)

    def path(u: float):
        e = _ease(u)
        return (cw * (0.35 + 0.3 * e), ch * (0.4 + 0.2 * e)), 1.0, 0.0

    return InterpolationClip("lines", _render(canvas, size, frames, path))


def compressed(clip: InterpolationClip, crf: int = 20) -> InterpolationClip:
    """``clip`` with its input through H.264 (x264, ``crf``, 4:2:0) and back, as videos come:
    still captions are no longer bit-identical from frame to frame."""
    with VideoReader(encode(list(clip.frames[::2]), 25.0, crf=crf)) as reader:
        decoded = np.stack([f.rgb for f in reader.frames()])
    return InterpolationClip(f"{clip.name} H.264", clip.frames, clip.overlay, decoded)


def clips() -> list[InterpolationClip]:
    """The quality clips, 320x180: four exact, and the caption clip through H.264."""
    shown = caption()
    return [camera(), occlusion(), shown, lines(), compressed(shown)]


def speed_clip(frames: int = 17) -> InterpolationClip:
    """The middle ``frames`` frames (odd) of the occlusion clip rendered at 1280x720: four
    times the motion in pixels, about 70 pixels between input frames."""
    clip = occlusion((720, 1280))
    start = (len(clip.frames) - frames) // 2 // 2 * 2
    return InterpolationClip("occlusion 720p", clip.frames[start : start + frames])
