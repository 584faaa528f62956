"""Video frame interpolation (frame-rate up-conversion) with occlusion reasoning.

Between two consecutive frames ``a`` and ``b`` (``uint8`` RGB), the frame at any time
``t`` in (0, 1):

1. Still detail (burned-in captions and logos: pixels equal in ``a`` and ``b`` amid local
   contrast, :func:`static_mask`) is found first and filled in from its surroundings, so flow
   follows what moves behind it.
2. Optical flow both ways (OpenCV DIS) on grey frames, downscaled so the longer side is at
   most ``flow_width`` pixels; forward-backward consistency error per pixel.
3. Motion at time ``t``: every moving pixel of ``a`` and of ``b`` is splatted (bilinear
   footprint) to where it is at ``t``, carrying its motion; where several land on one spot,
   consistent ones (visible in both frames) outweigh inconsistent ones (soon covered or just
   uncovered) exponentially, so the foreground wins where objects overlap. Holes, and spots
   only inconsistent pixels reach, are filled from their neighbourhood.
4. Both frames are sampled along that motion (``cv2.remap``, bicubic); each sample counts by
   whether its source pixel lies in the frame and moves with the motion found at ``t``
   (visibility), and by temporal distance ((1 - t) for ``a``, ``t`` for ``b``).
5. Still detail, and the pixels next to it that neither frame shows moving, are the blend of
   ``a`` and ``b``, never warped: captions and logos stay sharp and do not flicker.

Failure modes: objects moving more than about a tenth of ``flow_width`` between the frames or
thinner than the DIS patches (8 pixels at flow scale) get the motion of their surroundings;
the rim of a moving object smears a little over the background (flow blurs across motion
boundaries); semi-transparent overlays are not still pixels and are warped with what moves
behind them; periodic texture moving by a whole period can pass as still.
"""

from __future__ import annotations

import functools
import itertools
from collections import deque
from collections.abc import Sequence

import cv2
import numpy as np

FLOW_WIDTH = 400
"""Longest side of the frames flow is computed on, pixels; larger frames are downscaled."""


def _dis() -> cv2.DISOpticalFlow:
    # The medium preset stops at half resolution, which misses objects moving tens of pixels
    # on small frames; at full resolution three refinement passes do as well as its five.
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    dis.setFinestScale(0)
    dis.setVariationalRefinementIterations(3)
    return dis


def grey(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luma of ``uint8`` RGB, ``uint8``."""
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def flows(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flow a->b and b->a (float32 H x W x 2, pixels of the given ``uint8`` grey frames)."""
    dis = _dis()
    return dis.calc(a, b, None), dis.calc(b, a, None)


@functools.lru_cache(maxsize=4)
def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel x and y coordinates (float32 H x W each); shared, never to be written."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return xs, ys


def _sample(image: np.ndarray, xs: np.ndarray, ys: np.ndarray, cubic: bool = False) -> np.ndarray:
    return cv2.remap(
        image,
        xs,
        ys,
        cv2.INTER_CUBIC if cubic else cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )


def _inside(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """1 where (xs, ys) lies in the frame, falling to 0 half a pixel outside it (float32)."""
    h, w = xs.shape
    dx = np.maximum(-xs, xs - (w - 1))
    dy = np.maximum(-ys, ys - (h - 1))
    return np.clip(0.5 - np.maximum(dx, dy), 0, 1) * 2


def inconsistency(forward: np.ndarray, backward: np.ndarray) -> np.ndarray:
    """Forward-backward error |F(x) + B(x + F(x))| in pixels (float32 H x W): near 0 where a
    pixel is visible in both frames, large where it is occluded in the other."""
    h, w = forward.shape[:2]
    xs, ys = _grid(h, w)
    back = _sample(backward, xs + forward[..., 0], ys + forward[..., 1])
    return np.linalg.norm(forward + back, axis=2)


def _fill(values: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """``values`` / ``weight`` where ``weight`` is at least 1e-3; elsewhere the weighted mean of
    the nearest covered neighbourhood (blurs of growing size)."""
    per = (...,) if values.ndim == 2 else (..., None)
    out = values / np.maximum(weight, 1e-6)[per]
    hole = weight < 1e-3
    sigma = 2.0
    while hole.any() and sigma < max(weight.shape):
        w = cv2.GaussianBlur(weight, (0, 0), sigma)
        v = cv2.GaussianBlur(values, (0, 0), sigma)
        out[hole] = (v / np.maximum(w, 1e-9)[per])[hole]
        hole &= w < 1e-3
        sigma *= 2
    return out


def splat(
    motions: list[np.ndarray], starts: list[np.ndarray], costs: list[np.ndarray], sharpness: float
) -> np.ndarray:
    """Motion field (float32 H x W x 2) at the time each pixel ``x`` of each source has moved
    to ``x + start(x)``, carrying ``motion(x)``; overlapping pixels weigh
    ``exp(-sharpness * cost)``."""
    h, w = motions[0].shape[:2]
    xs, ys = _grid(h, w)
    px = np.concatenate([(xs + s[..., 0]).ravel() for s in starts])
    py = np.concatenate([(ys + s[..., 1]).ravel() for s in starts])
    mx = np.concatenate([m[..., 0].ravel() for m in motions])
    my = np.concatenate([m[..., 1].ravel() for m in motions])
    base = np.exp(-sharpness * np.concatenate([c.ravel() for c in costs]))
    x0, y0 = np.floor(px), np.floor(py)
    fx, fy = px - x0, py - y0
    total = np.zeros(h * w)
    sx, sy = np.zeros(h * w), np.zeros(h * w)
    for dx, dy, k in (
        (0, 0, (1 - fx) * (1 - fy)),
        (1, 0, fx * (1 - fy)),
        (0, 1, (1 - fx) * fy),
        (1, 1, fx * fy),
    ):
        cx, cy = x0 + dx, y0 + dy
        k *= base * ((cx >= 0) & (cx < w) & (cy >= 0) & (cy < h))
        index = (np.clip(cy, 0, h - 1) * w + np.clip(cx, 0, w - 1)).astype(np.int32)
        total += np.bincount(index, k, h * w)
        sx += np.bincount(index, k * mx, h * w)
        sy += np.bincount(index, k * my, h * w)
    sums = np.stack([sx, sy], axis=1).reshape(h, w, 2).astype(np.float32)
    return _fill(sums, total.reshape(h, w).astype(np.float32))


def static_mask(
    frames: Sequence[np.ndarray],
    tolerance: int = 3,
    contrast: int = 24,
    company: int = 10,
    reach: int = 4,
    corner: float = 700.0,
) -> np.ndarray:
    """``bool`` H x W: still detail, such as burned-in captions and logos, through consecutive
    ``uint8`` RGB ``frames`` (two or more).

    Seeds are pixels that differ by at most ``tolerance`` grey levels (any channel) from one
    frame to the next throughout, with at least ``company`` such pixels in their 5x5 window
    (strokes one pixel thin qualify, chance matches in moving texture rarely do), and whose
    3x3 neighbourhood spans at least ``contrast`` grey levels in the first and last frames
    (flat regions match whether they move or not, and so does flat background that a thin line
    crosses between the frames), with structure in two directions within a pixel: the smallest
    eigenvalue of the structure tensor (``cv2.cornerMinEigenVal``, 5x5 block, 3x3 Sobel, grey
    0-255) at least ``corner`` (an edge moving along itself looks still; letters and logos have
    corners). The mask grows from the seeds through matching pixels for up
    to ``reach`` pixels, filling the flat insides of strokes. Periodic texture that moves by a
    whole period can still pass; over more frames a looser ``tolerance`` is safe (compression
    noise on a still caption is a few grey levels; moving texture rarely stays that close for
    long).
    """
    a, b = frames[0], frames[-1]
    diff = np.zeros_like(a)
    for earlier, later in itertools.pairwise(frames):
        diff = np.maximum(diff, cv2.absdiff(earlier, later))
    same = (np.maximum(np.maximum(diff[..., 0], diff[..., 1]), diff[..., 2]) <= tolerance).view(
        np.uint8
    )
    seeds = cv2.boxFilter(same, cv2.CV_16U, (5, 5), normalize=False) >= company
    for f in (a, b):
        g = grey(f)
        seeds &= cv2.dilate(g, None) - cv2.erode(g, None) >= contrast
        seeds &= cv2.dilate(cv2.cornerMinEigenVal(g.astype(np.float32), 5, 3), None) >= corner
    mask = (seeds & (same > 0)).view(np.uint8)
    for _ in range(reach):
        mask = cv2.dilate(mask, None) & same
    return mask > 0


STILL_GROW = 2
"""Pixels the still detail is grown by before it is blended."""
STILL_FRAMES, STILL_TOLERANCE, STILL_REACH = 6, 12, 8
"""Source frames :class:`StillDetail` looks at, the change (grey levels, frame to frame)
still detail may show over them (compression noise), and how far (pixels) its mask grows
through matching pixels (the flat insides of a bold logo)."""


@functools.lru_cache(maxsize=4)
def _disc(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


class StillDetail:
    """Still detail (captions, logos) of a video, from the last :data:`STILL_FRAMES` source
    frames: over several frames a compressed caption's noise can be allowed (tolerance
    :data:`STILL_TOLERANCE`) where two frames would let moving texture pass as still. Until
    that many frames have come, two frames and the strict default of :func:`static_mask`."""

    def __init__(self) -> None:
        self.frames: deque[np.ndarray] = deque(maxlen=STILL_FRAMES)

    def push(self, rgb: np.ndarray) -> None:
        """Take the next source frame (``uint8`` RGB)."""
        self.frames.append(rgb)

    def mask(self) -> np.ndarray:
        """``bool`` H x W: still detail between the last two frames pushed (at least two)."""
        if len(self.frames) == STILL_FRAMES:
            return static_mask(list(self.frames), tolerance=STILL_TOLERANCE, reach=STILL_REACH)
        return static_mask(list(self.frames)[-2:])


class PairInterpolator:
    """Frames between ``a`` and ``b`` (``uint8`` RGB H x W x 3, same size), flow computed once.

    ``still``: the still detail to blend rather than warp (``bool`` H x W), by default
    :func:`static_mask` of the two frames. ``flow_width``: longest side flow is computed on
    (pixels); speed against detail of motion boundaries. ``sharpness``: how strongly
    consistent pixels win overlaps, per pixel of forward-backward error. ``agreement``:
    pixels; how far a source pixel's own motion may differ from the motion at ``t`` and still
    count as visible.
    """

    def __init__(
        self,
        a: np.ndarray,
        b: np.ndarray,
        still: np.ndarray | None = None,
        flow_width: int = FLOW_WIDTH,
        sharpness: float = 2.0,
        agreement: float = 1.0,
    ) -> None:
        if a.shape != b.shape or a.ndim != 3:
            raise ValueError(f"frames must be H x W x 3 of one size, got {a.shape}, {b.shape}")
        self.a, self.b = a, b
        self.h, self.w = a.shape[:2]
        self.scale = min(1.0, flow_width / max(self.h, self.w))
        found = static_mask([a, b]) if still is None else still
        # Anti-aliased rims of letters and compression noise escape the mask: grown, they are
        # blended with the rest instead of warped with the motion behind them.
        self.still = cv2.dilate(found.view(np.uint8), _disc(STILL_GROW)) > 0
        # Still overlays would hold the flow of whatever moves behind them at zero: flow is
        # computed with them (and a pixel around) filled in from their surroundings, and they
        # are left out of the motion at t (which is what moves behind them) and do not count
        # as visible sources of moving content.
        self.zone = cv2.dilate(self.still.view(np.uint8), None) > 0
        ga, gb = grey(a), grey(b)
        moving = (~self.zone).astype(np.float32)
        if self.scale < 1:
            size = (round(self.w * self.scale), round(self.h * self.scale))
            ga = cv2.resize(ga, size, interpolation=cv2.INTER_AREA)
            gb = cv2.resize(gb, size, interpolation=cv2.INTER_AREA)
            moving = (cv2.resize(moving, size, interpolation=cv2.INTER_AREA) == 1).astype(
                np.float32
            )
        still = moving == 0
        if still.any():
            ga, gb = (_fill(g * moving, moving).astype(np.uint8) for g in (ga, gb))
        forward, backward = flows(ga, gb)
        self.cost_a = np.where(still, np.inf, inconsistency(forward, backward))
        self.cost_b = np.where(still, np.inf, inconsistency(backward, forward))
        self.forward, self.backward = forward, backward
        self.forward_moving = np.where(still[..., None], 0, forward)
        self.backward_moving = np.where(still[..., None], 0, backward)
        self.sharpness = sharpness
        self.agreement = agreement

    def motion(self, t: float) -> np.ndarray:
        """Motion a->b (float32 h x w x 2, flow-scale pixels) of what is at each pixel at time
        ``t``."""
        return splat(
            [self.forward, -self.backward],
            [t * self.forward, (1 - t) * self.backward],
            [self.cost_a, self.cost_b],
            self.sharpness,
        )

    def at(self, t: float) -> np.ndarray:
        """The ``uint8`` RGB frame at time ``t`` in (0, 1) (0 is ``a``, 1 is ``b``)."""
        if not 0 < t < 1:
            raise ValueError(f"t must lie in (0, 1), got {t}")
        motion = self.motion(t)
        h, w = motion.shape[:2]
        xs, ys = _grid(h, w)
        # Visibility: does the pixel sampled in each frame move with the motion found at t?
        xa, ya = xs - t * motion[..., 0], ys - t * motion[..., 1]
        xb, yb = xs + (1 - t) * motion[..., 0], ys + (1 - t) * motion[..., 1]
        own_a = _sample(self.forward_moving, xa, ya)
        own_b = -_sample(self.backward_moving, xb, yb)
        spread = 2 * self.agreement**2
        va = (np.exp(-((own_a - motion) ** 2).sum(axis=2) / spread) + 1e-3) * _inside(xa, ya)
        vb = (np.exp(-((own_b - motion) ** 2).sum(axis=2) / spread) + 1e-3) * _inside(xb, yb)
        wa, wb = (1 - t) * va + 1e-6, t * vb + 1e-6
        share = wb / (wa + wb)
        seen = np.maximum(va, vb)
        if self.scale < 1:
            size = (self.w, self.h)
            motion = cv2.resize(motion, size, interpolation=cv2.INTER_LINEAR) / self.scale
            share = cv2.resize(share, size, interpolation=cv2.INTER_LINEAR)
            seen = cv2.resize(seen, size, interpolation=cv2.INTER_LINEAR)
            xs, ys = _grid(self.h, self.w)
        mx, my = motion[..., 0], motion[..., 1]
        fa = _sample(self.a, xs - t * mx, ys - t * my, cubic=True)
        fb = _sample(self.b, xs + (1 - t) * mx, ys + (1 - t) * my, cubic=True)
        out = cv2.blendLinear(fa, fb, 1 - share, share)
        # Next to still detail, what moves behind it may be hidden in both frames: the edges of
        # captions and logos, which keep their look from the frames then.
        still = self.still | (self.zone & (seen < 0.5))
        if still.any():
            np.copyto(out, cv2.addWeighted(self.a, 1 - t, self.b, t, 0), where=still[..., None])
        return out


def interpolate(a: np.ndarray, b: np.ndarray, t: float = 0.5, **options) -> np.ndarray:
    """The ``uint8`` RGB frame at time ``t`` in (0, 1) between consecutive frames ``a`` and
    ``b``; ``options`` go to :class:`PairInterpolator`."""
    return PairInterpolator(a, b, **options).at(t)
