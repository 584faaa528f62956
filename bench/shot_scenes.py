"""Synthetic edited clips with exact shot truth, for the shot-detection tests and benchmarks.

Each shot is a camera move over its own generated scene (:func:`bench.video_scenes.scene`).
Between shots: hard cuts, dissolves, fades through black or white and wipes. Inside shots,
the hazards users report detectors taking for cuts: flashes (a few frames driven towards
white), fast pans, an object crossing the frame and a lighting change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from bench.video_scenes import scene
from common.shots import Transition

TRANSITIONS = ("cut", "dissolve", "fade", "cut", "wipe", "cut", "dissolve", "fade")
HAZARDS = ("flash", "fast pan", "none", "crossing", "lighting", "flash", "none", "fast pan")


@dataclass
class EditedClip:
    """``frames`` (``uint8`` RGB, N x H x W x 3) at ``fps``; ``truth``: every transition, in
    order (a cut's ``start == end``: the first frame of the new shot); ``hazards``: (frame,
    kind) of each hazard placed inside a shot."""

    frames: np.ndarray
    fps: float
    truth: list[Transition]
    hazards: list[tuple[int, str]]


def _shot(rng: np.random.Generator, seed: int, length: int, size: tuple[int, int], hazard: str):
    """``length`` frames of a camera moving over one scene, with ``hazard`` in the middle."""
    h, w = size
    speed = 14.0 if hazard == "fast pan" else float(rng.uniform(0.3, 1.5))
    angle = rng.uniform(0, 2 * np.pi)
    dx, dy = speed * np.cos(angle), speed * np.sin(angle)
    big = scene(h + int(abs(dy) * length) + 8, w + int(abs(dx) * length) + 8, seed)
    x0 = 4 if dx >= 0 else big.shape[1] - w - 4
    y0 = 4 if dy >= 0 else big.shape[0] - h - 4
    frames = np.empty((length, h, w, 3), np.uint8)
    for i in range(length):
        shift = np.float32([[1, 0, -(x0 + dx * i)], [0, 1, -(y0 + dy * i)]])
        frames[i] = cv2.warpAffine(big, shift, (w, h), flags=cv2.INTER_LINEAR)
    middle = length // 2
    if hazard == "flash":
        for k, strength in enumerate((0.9, 0.6)):
            lit = frames[middle + k].astype(np.float32)
            frames[middle + k] = np.clip(lit + strength * (255 - lit), 0, 255).astype(np.uint8)
    elif hazard == "crossing":
        # A dark disc a third of the frame high sweeps across in under a second.
        for i in range(middle - 8, middle + 8):
            cx = int(-h / 3 + (w + 2 * h / 3) * (i - middle + 8) / 16)
            cv2.circle(frames[i], (cx, h // 2), h // 3, (30, 25, 20), -1, cv2.LINE_AA)
    elif hazard == "lighting":
        ramp = np.linspace(1.0, 0.55, length - middle)[:, None, None, None]
        frames[middle:] = (frames[middle:] * ramp).astype(np.uint8)
    return frames


def _join(a: np.ndarray, b: np.ndarray, kind: str, frames: int) -> np.ndarray:
    """The ``frames`` transition frames taking the last frame of ``a`` to the first of ``b``
    (the shots keep playing under a dissolve or a wipe)."""
    out = np.empty((frames, *a.shape[1:]), np.uint8)
    w = a.shape[2]
    for k in range(frames):
        t = (k + 1) / (frames + 1)
        old, new = a[len(a) - frames + k].astype(np.float32), b[k].astype(np.float32)
        if kind == "dissolve":
            mix = (1 - t) * old + t * new
        elif kind == "fade":
            # Down to black for the first half, up from black for the second.
            mix = old * max(0.0, 1 - 2 * t) if t < 0.5 else new * min(1.0, 2 * t - 1)
        else:  # wipe, left to right
            edge = int(round(t * w))
            mix = old.copy()
            mix[:, :edge] = new[:, :edge]
        out[k] = np.clip(mix, 0, 255).astype(np.uint8)
    return out


def edited_clip(
    seed: int = 0,
    size: tuple[int, int] = (90, 160),
    fps: float = 25.0,
    transitions: Sequence[str] = TRANSITIONS,
    hazards: Sequence[str] = HAZARDS,
    shot_seconds: tuple[float, float] = (2.0, 4.0),
    transition_frames: int | tuple[int, int] = 16,
) -> EditedClip:
    """An edited clip of ``len(transitions) + 1`` shots.

    Args:
        seed: the scenes, shot lengths and camera moves.
        size: frame (height, width) in pixels.
        fps: frame rate.
        transitions: between consecutive shots: "cut", "dissolve", "fade" (through black) or
            "wipe".
        hazards: one per shot (cycled): "flash", "fast pan" (14 px a frame), "crossing",
            "lighting" (a 45 % darkening ramp) or "none".
        shot_seconds: range of each shot's length.
        transition_frames: length of a gradual transition, frames, or the (shortest, longest)
            range each one's length is drawn from (by a random stream of its own: the scenes and
            camera moves stay those of a fixed length).
    """
    rng = np.random.default_rng(seed)
    shortest, longest = (
        (transition_frames,) * 2 if isinstance(transition_frames, int) else transition_frames
    )
    draw = np.random.default_rng((seed, 1))
    lengths = [
        0 if kind == "cut" else int(draw.integers(shortest, longest + 1)) for kind in transitions
    ]
    lengths_around = list(zip([0, *lengths], [*lengths, 0], strict=True))
    shots = []
    for i in range(len(transitions) + 1):
        length = int(rng.uniform(*shot_seconds) * fps) + longest
        shots.append(_shot(rng, seed * 100 + i, length, size, hazards[i % len(hazards)]))
    pieces, truth, placed, at = [], [], [], 0
    for i, shot in enumerate(shots):
        before, after = lengths_around[i]
        body = shot[before : len(shot) - after]
        pieces.append(body)
        hazard = hazards[i % len(hazards)]
        if hazard != "none":
            placed.append((at + len(shot) // 2 - before, hazard))
        at += len(body)
        if i < len(transitions):
            if after == 0:
                truth.append(Transition(at, at, "cut"))
            else:
                pieces.append(_join(shot, shots[i + 1], transitions[i], after))
                truth.append(Transition(at, at + after, "gradual"))
                at += after
    return EditedClip(np.concatenate(pieces), fps, truth, placed)
