"""Synthetic rooms with known insertion slots, for the DetectInsertionSlots tests and benchmark.

A camera (focal length about the frame width, principal point at the centre) looks at a wall
turned by a random yaw. On the wall hang rectangles of known width/height in metres: a poster
(a picture in a thin dark frame), a screen (dark panel in a black bezel) and a whiteboard
(near-white panel in an aluminium frame), each projected with the wall's homography. A floor
fills the bottom of the frame. Optionally a plant-like occluder stands in front of one of them.
The truth is every rectangle's projected corners, kind, aspect ratio, and the visible fraction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

SUPERSAMPLE = 4


@dataclass
class Surface:
    """One true slot: corners (4 x 2, clockwise from top-left, pixels) of the whole surface,
    frame included, and ``inner`` ones of the part inside the frame (the picture, the display,
    the writing area; either is a right answer); kind ("poster", "screen", "board", "wall");
    width / height of the real rectangle; visible mask."""

    corners: np.ndarray
    kind: str
    aspect_ratio: float
    visible: np.ndarray
    inner: np.ndarray | None = None

    @property
    def occluded_fraction(self) -> float:
        quad = np.zeros(self.visible.shape, np.uint8)
        cv2.fillPoly(quad, [np.round(self.corners).astype(np.int32)], 1)
        return float(1 - self.visible.sum() / max(1, quad.sum()))


@dataclass
class Room:
    """``image`` ``uint8`` RGB, the true surfaces hung on the wall, and the wall homography."""

    image: np.ndarray
    surfaces: list[Surface] = field(default_factory=list)
    homography: np.ndarray | None = None
    floor_top: int = 0


def wall_homography(
    size: tuple[int, int], yaw_degrees: float, pitch_degrees: float, distance: float
) -> np.ndarray:
    """3 x 3 map from wall metres (x right, y down, origin at the wall point the camera faces)
    to frame pixels, for a camera of focal length 1.1 x frame width."""
    h, w = size
    f = 1.1 * w
    camera = np.array([[f, 0, w / 2], [0, f, h / 2], [0, 0, 1]])
    yaw, pitch = np.radians(yaw_degrees), np.radians(pitch_degrees)
    ry = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
    rx = np.array(
        [[1, 0, 0], [0, np.cos(pitch), -np.sin(pitch)], [0, np.sin(pitch), np.cos(pitch)]]
    )
    rotation = ry @ rx
    plane = np.column_stack([rotation[:, 0], rotation[:, 1], [0, 0, distance]])
    return camera @ plane


def _project(homography: np.ndarray, points: np.ndarray) -> np.ndarray:
    return cv2.perspectiveTransform(points[None].astype(np.float64), homography)[0]


def _poster_art(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    art = np.zeros((h, w, 3))
    for c in range(3):
        art[..., c] = 0.5 + 0.4 * np.sin(rng.uniform(3, 9) * x + rng.uniform(2, 8) * y + c)
    for _ in range(6):
        centre = (int(rng.uniform(0, w)), int(rng.uniform(0, h)))
        radius = int(rng.uniform(0.05, 0.2) * max(h, w))
        cv2.circle(art, centre, radius, rng.uniform(0, 1, 3).tolist(), -1)
    return (art * 255).clip(0, 255).astype(np.uint8)


def _border(h: int, w: int) -> int:
    """Frame width in pixels of an `h` x `w` front view."""
    return max(2, int(0.035 * min(h, w)))


def _panel(kind: str, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """Front view of a surface, `h` x `w` pixels, frame included."""
    border = _border(h, w)
    if kind == "poster":
        panel = np.full((h, w, 3), 35, np.uint8)
        panel[border:-border, border:-border] = _poster_art(h - 2 * border, w - 2 * border, rng)
    elif kind == "screen":
        panel = np.full((h, w, 3), 12, np.uint8)
        y = np.linspace(0, 1, h - 2 * border)[:, None, None]
        panel[border:-border, border:-border] = 28 + 18 * y + np.zeros((1, w - 2 * border, 3))
    else:  # whiteboard
        panel = np.full((h, w, 3), 170, np.uint8)
        panel[border:-border, border:-border] = 244
        for _ in range(3):  # a few marker strokes
            x0, y0 = int(rng.uniform(0.15, 0.5) * w), int(rng.uniform(0.2, 0.8) * h)
            cv2.line(panel, (x0, y0), (x0 + int(0.3 * w), y0), (40, 60, 160), max(1, h // 80))
    return panel


def _occluder(h: int, w: int, anchor: tuple[float, float], scale: float) -> np.ndarray:
    """A plant-like silhouette (pot and leaves) standing on the floor at `anchor` (pixels)."""
    mask = np.zeros((h, w), np.uint8)
    x, y = int(anchor[0]), int(anchor[1])
    pot = int(40 * scale)
    cv2.rectangle(mask, (x - pot // 2, y - pot), (x + pot // 2, y), 1, -1)
    for dx, dy, rx, ry in ((0, -3.2, 0.9, 2.2), (-0.7, -2.6, 0.6, 1.4), (0.8, -2.4, 0.6, 1.5)):
        centre = (int(x + dx * pot), int(y + dy * pot))
        cv2.ellipse(mask, centre, (int(rx * pot), int(ry * pot)), 0, 0, 360, 1, -1)
    return mask.astype(bool)


def make_room(
    seed: int = 0,
    size: tuple[int, int] = (540, 960),
    kinds: tuple[str, ...] = ("poster", "screen", "board"),
    occlude: str | None = None,
) -> Room:
    """A room picture with `kinds` hung on the wall, left to right.

    Args:
        seed: everything random (yaw, sizes, colours, art) derives from it.
        size: (height, width) in pixels.
        kinds: surfaces to hang, among "poster", "screen", "board".
        occlude: kind whose lower right part a plant hides (its leaves reach half-way up, so
            part of every side stays visible), or None.
    """
    rng = np.random.default_rng(seed)
    h, w = size
    homography = wall_homography(size, rng.uniform(-28, 28), rng.uniform(-6, 6), 4.0)
    # Wall: a warm or cool paint with a soft light fall-off; floor below the skirting.
    yy, xx = np.mgrid[0:h, 0:w]
    light = 1.0 - 0.18 * ((xx - w * rng.uniform(0.3, 0.7)) ** 2 + (yy - 0.2 * h) ** 2) / (w * w)
    paint = rng.uniform(150, 215, 3)
    image = paint[None, None] * light[..., None]
    floor_top = int(h * rng.uniform(0.72, 0.8))
    wood = (
        95 + 25 * np.sin(xx[floor_top:] / rng.uniform(6, 12)) + rng.normal(0, 4, (h - floor_top, w))
    )
    image[floor_top:] = np.stack([wood * 1.25, wood * 0.95, wood * 0.7], -1)
    image += rng.normal(0, 2.0, image.shape)
    room = Room(np.zeros((h, w, 3), np.uint8), homography=homography, floor_top=floor_top)
    # Surfaces: left to right along the wall, centred about eye height, metres.
    widths = {"poster": (0.6, 0.9), "screen": (1.1, 1.4), "board": (1.2, 1.6)}
    ratios = {"poster": (0.62, 0.8), "screen": (1.6, 1.8), "board": (1.3, 1.6)}
    span = 3.2
    lefts = np.linspace(-span / 2, span / 2, len(kinds) + 1)
    occluders = np.zeros((h, w), bool)
    for kind, left, right in zip(kinds, lefts[:-1], lefts[1:], strict=True):
        width = min(rng.uniform(*widths[kind]), 0.82 * (right - left))
        ratio = rng.uniform(*ratios[kind])
        if kind == "poster":
            ratio = 1 / ratio if rng.random() < 0.3 else ratio
        height = width / ratio
        x0 = (left + right) / 2 - width / 2
        y0 = -0.25 - height / 2 + rng.uniform(-0.05, 0.05)
        metres = np.array(
            [[x0, y0], [x0 + width, y0], [x0 + width, y0 + height], [x0, y0 + height]]
        )
        corners = _project(homography, metres).astype(np.float32)
        front_w = 400
        front_h = int(round(front_w / ratio))
        panel = _panel(kind, front_h, front_w, rng)
        src = np.array([[0, 0], [front_w, 0], [front_w, front_h], [0, front_h]], np.float32)
        warp = cv2.getPerspectiveTransform(src, corners)
        warped = cv2.warpPerspective(panel, warp, (w, h), flags=cv2.INTER_AREA).astype(np.float64)
        coverage = _coverage(corners, (h, w))
        image = image * (1 - coverage[..., None]) + warped * coverage[..., None]
        b = _border(front_h, front_w)
        inside = np.array(
            [[b, b], [front_w - b, b], [front_w - b, front_h - b], [b, front_h - b]], np.float32
        )
        inner = cv2.perspectiveTransform(inside[None], warp)[0]
        room.surfaces.append(Surface(corners, kind, width / height, coverage >= 0.5, inner))
        if kind == occlude:  # a plant on the floor whose leaves reach half-way up the surface
            anchor = (corners[2, 0] - 0.15 * (corners[2, 0] - corners[3, 0]), floor_top + 0.1 * h)
            reach = anchor[1] - (corners[1, 1] + 0.5 * (corners[2, 1] - corners[1, 1]))
            occluders |= _occluder(h, w, anchor, reach / (5.4 * 40))
    if occluders.any():
        leaf = np.array([48, 110, 52], np.float64) + rng.normal(0, 10, (h, w, 3))
        image[occluders] = leaf[occluders]
        for surface in room.surfaces:
            surface.visible &= ~occluders
    room.image = image.clip(0, 255).astype(np.uint8)
    return room


def _coverage(corners: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Fraction of each pixel inside the polygon (supersampled), float H x W."""
    h, w = size
    big = np.zeros((h * SUPERSAMPLE, w * SUPERSAMPLE), np.uint8)
    points = np.round(corners * SUPERSAMPLE * 16).astype(np.int32)
    cv2.fillPoly(big, [points], 255, lineType=cv2.LINE_AA, shift=4)
    return cv2.resize(big, (w, h), interpolation=cv2.INTER_AREA) / 255.0


def make_wall(seed: int = 0, size: tuple[int, int] = (540, 960)) -> Room:
    """An empty room: a plain wall above a floor, the wall (up to the floor) as a "wall" slot."""
    h, w = size
    room = make_room(seed, size, kinds=())
    floor_top = room.floor_top
    corners = np.array([[0, 0], [w, 0], [w, floor_top], [0, floor_top]], np.float32)
    visible = np.zeros((h, w), bool)
    visible[:floor_top] = True
    room.surfaces.append(Surface(corners, "wall", w / floor_top, visible))
    return room
