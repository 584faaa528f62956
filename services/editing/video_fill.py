"""Video hole filling: what a frame's hole hides is copied from frames where it is visible.

Frames stream through :class:`TemporalFiller` with a bounded look-ahead. For every hole pixel
the nearest frame in time that shows the same scene point wins: the past through a running
background memory (kept aligned to the current frame), the future through the look-ahead
buffer, both brought into the frame by the camera motion (:class:`MotionEstimator`, a
homography per frame pair; shot cuts end the chain). What no frame in reach shows is filled
spatially once (multi-scale PatchMatch) and then carried by the memory like real background,
so it does not flicker from frame to frame.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from services.editing import inpaint

WORK_WIDTH = 480  # motion is estimated on frames scaled to this width
MIN_INLIERS = 12  # fewer RANSAC inliers than this: no reliable motion (cut, or textureless)
CUT_CORRELATION = 0.5  # grey histograms less correlated than this across a frame pair: a cut
STILL_PIXELS = 0.3  # median motion under this (full-resolution pixels): the camera is still
NEVER = np.iinfo(np.int32).max  # memory age of a pixel never seen
SYNTHETIC = NEVER // 2  # memory age of a spatially filled pixel: any real view is preferred
GROUP_JOIN = 0.03  # hole parts closer than this share of the frame width are filled together


def _scale(s: float) -> np.ndarray:
    return np.diag([s, s, 1.0])


class MotionEstimator:
    """Camera motion between consecutive frames, and shot cuts.

    Corners of the previous frame (scaled to :data:`WORK_WIDTH`, grey) are tracked into the
    current one by pyramidal Lucas-Kanade, and a similarity (translation, rotation, zoom) is
    fitted to the tracks by RANSAC; the pixels being erased are excluded (captions and logos
    do not move with the scene). Sub-pixel tracks keep the alignment within a fraction of a
    pixel, which matters when pixels are copied across a second of frames. A still camera
    (median motion under :data:`STILL_PIXELS`) gives the identity, so noise does not jitter a
    static shot.
    """

    def __init__(self) -> None:
        self._previous: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def update(self, rgb: np.ndarray, exclude: np.ndarray) -> tuple[np.ndarray, bool]:
        """Motion from the previous frame to ``rgb`` (3x3, full-resolution pixels) and
        whether a shot cut lies between them. The first frame is a cut."""
        s = min(1.0, WORK_WIDTH / rgb.shape[1])
        size = (round(rgb.shape[1] * s), round(rgb.shape[0] * s))
        grey = cv2.cvtColor(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)
        keep = cv2.resize((~exclude).astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
        keep = cv2.erode(keep, np.ones((5, 5), np.uint8))
        histogram = cv2.calcHist([grey], [0], None, [32], [0, 256])
        previous, self._previous = self._previous, (grey, keep, histogram)
        if previous is None:
            return np.eye(3), True
        cut = cv2.compareHist(previous[2], histogram, cv2.HISTCMP_CORREL) < CUT_CORRELATION
        corners = cv2.goodFeaturesToTrack(previous[0], 400, 0.01, 6, mask=previous[1])
        if corners is None or len(corners) < MIN_INLIERS:
            return np.eye(3), cut
        tracked, status, _ = cv2.calcOpticalFlowPyrLK(
            previous[0], grey, corners, None, winSize=(21, 21), maxLevel=3
        )
        ok = status.ravel() == 1
        src, dst = corners[ok].reshape(-1, 2), tracked[ok].reshape(-1, 2)
        if len(src) < MIN_INLIERS:
            return np.eye(3), True
        inside = (
            keep[
                np.clip(dst[:, 1].round().astype(int), 0, size[1] - 1),
                np.clip(dst[:, 0].round().astype(int), 0, size[0] - 1),
            ]
            == 1
        )
        src, dst = src[inside], dst[inside]
        if len(src) < MIN_INLIERS:
            return np.eye(3), cut
        similarity, inliers = cv2.estimateAffinePartial2D(
            src, dst, method=cv2.RANSAC, ransacReprojThreshold=1.0
        )
        if similarity is None or int(inliers.sum()) < MIN_INLIERS:
            return np.eye(3), True
        moved = np.linalg.norm((dst - src)[inliers.ravel() == 1], axis=1)
        if np.median(moved) / s < STILL_PIXELS:
            return np.eye(3), cut
        return _scale(1 / s) @ np.vstack([similarity, [0, 0, 1]]) @ _scale(s), cut


@dataclass
class Slot:
    """A frame waiting in the look-ahead: pixels, hole, the transform from its coordinates to
    its shot's first frame, the shot number, whatever the caller attaches (``tag``), and once
    finished the ``filled`` pixels."""

    rgb: np.ndarray
    hole: np.ndarray
    to_shot: np.ndarray
    shot: int
    tag: object = None
    filled: np.ndarray | None = field(default=None, repr=False)


def _bounds(mask: np.ndarray, margin: int) -> tuple[slice, slice]:
    ys, xs = np.nonzero(mask)
    h, w = mask.shape
    return (
        slice(max(0, ys.min() - margin), min(h, ys.max() + margin + 1)),
        slice(max(0, xs.min() - margin), min(w, xs.max() + margin + 1)),
    )


def _warp_into(
    image: np.ndarray,
    transform: np.ndarray,
    rows: slice,
    cols: slice,
    nearest: bool = False,
    outside: int = 0,
) -> np.ndarray:
    """``image`` warped by ``transform`` (its coordinates -> the target frame's), sampled only
    over the target window ``rows`` x ``cols``; ``outside`` where the source does not reach."""
    shift = np.array([[1, 0, -cols.start], [0, 1, -rows.start], [0, 0, 1]], float)
    size = (cols.stop - cols.start, rows.stop - rows.start)
    flags = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
    return cv2.warpPerspective(image, shift @ transform, size, flags=flags, borderValue=outside)


@dataclass
class _Memory:
    """What the past shows, in the coordinates of the last finished frame: its output (real
    pixels where it was visible, filled ones in its hole) and the age of every pixel's value
    (``int32``, 0 where it was visible; ``None`` when all of it was)."""

    frame: Slot
    pixels: np.ndarray
    age: np.ndarray | None

    def aligned(self, slot: Slot, rows: slice, cols: slice) -> tuple[np.ndarray, np.ndarray]:
        """(pixels, age) over ``slot``'s window ``rows`` x ``cols``, one frame older; age
        :data:`NEVER` where the past frame does not reach or at a shot cut."""
        size = (rows.stop - rows.start, cols.stop - cols.start)
        if self.frame.shot != slot.shot:
            return np.zeros((*size, 3), np.uint8), np.full(size, NEVER, np.int32)
        to_here = np.linalg.inv(slot.to_shot) @ self.frame.to_shot
        pixels = _warp_into(self.pixels, to_here, rows, cols)
        age = np.zeros(size, np.int32)
        if self.age is not None:
            age = _warp_into(self.age, to_here, rows, cols, nearest=True)
        age = np.where(age < NEVER - 1, age + 1, age).astype(np.int32)
        h, w = self.pixels.shape[:2]
        inside = _warp_into(np.ones((h, w), np.uint8), to_here, rows, cols, nearest=True)
        age[inside == 0] = NEVER
        return pixels, age


def hole_groups(
    hole: np.ndarray, join: float = GROUP_JOIN
) -> list[tuple[np.ndarray, tuple[slice, slice]]]:
    """Parts of ``hole`` filled one window at a time: pieces closer than ``join`` of the frame
    width (a caption's letters) form one group, distant ones (logos in two corners) do not.

    Returns:
        [(``bool`` pixels of the group over its window, (rows, cols) of the window)].
    """
    size = 2 * max(1, round(join * hole.shape[1])) + 1
    joined = cv2.dilate(hole.astype(np.uint8), np.ones((size, size), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(joined)
    groups = []
    for label in range(1, count):
        x, y, bw, bh, _ = stats[label]
        part = np.zeros_like(hole)
        part[y : y + bh, x : x + bw] = hole[y : y + bh, x : x + bw] & (
            labels[y : y + bh, x : x + bw] == label
        )
        rows, cols = _bounds(part, 2)
        groups.append((part[rows, cols], (rows, cols)))
    return groups


class TemporalFiller:
    """Fill each frame's hole from other frames; frames come out in order, ``lookahead``
    frames after they went in.

    Args:
        lookahead: future frames consulted (and held in memory), >= 0.
        spatial: fills what no frame in reach shows: ``(rgb, hole) -> rgb``.
    """

    def __init__(
        self,
        lookahead: int,
        spatial: Callable[[np.ndarray, np.ndarray], np.ndarray] = inpaint.fill_patchmatch,
    ):
        self.lookahead = max(0, lookahead)
        self.spatial = spatial
        self.buffer: deque[Slot] = deque()
        self.memory: _Memory | None = None

    def push(self, slot: Slot) -> list[Slot]:
        """Add the next frame; returns the frames now finished (``slot.filled`` set)."""
        self.buffer.append(slot)
        done = []
        while len(self.buffer) > self.lookahead:
            done.append(self._finish())
        return done

    def flush(self) -> list[Slot]:
        """Finish every frame still waiting (at the end of the video)."""
        return [self._finish() for _ in range(len(self.buffer))]

    def _finish(self) -> Slot:
        slot = self.buffer.popleft()
        age = None
        if slot.hole.any():
            slot.filled, age = self._fill(slot)
        else:
            slot.filled = slot.rgb
        self.memory = _Memory(slot, slot.filled, age)
        return slot

    def _fill(self, slot: Slot) -> tuple[np.ndarray, np.ndarray]:
        """The frame with its hole filled, and the memory age of every pixel's value once
        filled (0 where visible)."""
        out = slot.rgb.copy()
        ages = np.zeros(slot.hole.shape, np.int32)
        unseen = np.zeros(slot.hole.shape, bool)
        for group, (rows, cols) in hole_groups(slot.hole):
            need = group.copy()
            self._fill_window(slot, need, out[rows, cols], ages[rows, cols], rows, cols)
            unseen[rows, cols] |= need
        if unseen.any():
            out = self.spatial(out, unseen)
        return out, ages

    def _fill_window(
        self,
        slot: Slot,
        need: np.ndarray,
        view: np.ndarray,
        ages: np.ndarray,
        rows: slice,
        cols: slice,
    ) -> None:
        """Fill the ``need`` pixels of ``view`` (``slot``'s output over the window ``rows`` x
        ``cols``) from the memory and the look-ahead, recording each value's age in ``ages``;
        ``need`` is left true where no frame shows the scene."""
        if self.memory is None:
            size = need.shape
            memory, age = np.zeros((*size, 3), np.uint8), np.full(size, NEVER, np.int32)
        else:
            memory, age = self.memory.aligned(slot, rows, cols)
        ages[need] = SYNTHETIC
        future = [f for f in self.buffer if f.shot == slot.shot]
        back = np.linalg.inv(slot.to_shot)
        for distance, other in enumerate(future, start=1):
            seen = need & (age <= distance)
            view[seen], ages[seen], need[seen] = memory[seen], age[seen], False
            if not need.any():
                return
            # Only what is still needed is warped: the box of ``need`` shrinks frame by frame.
            sub_rows, sub_cols = _bounds(need, 0)
            box = (
                slice(rows.start + sub_rows.start, rows.start + sub_rows.stop),
                slice(cols.start + sub_cols.start, cols.start + sub_cols.stop),
            )
            transform = back @ other.to_shot
            pixels = _warp_into(other.rgb, transform, *box)
            # A bool array read as uint8 is 0/1 without a copy; beyond the frame is hidden.
            hidden = _warp_into(other.hole.view(np.uint8), transform, *box, True, outside=1)
            wanted = need[sub_rows, sub_cols]
            visible = wanted & (hidden == 0)
            view[sub_rows, sub_cols][visible] = pixels[visible]
            wanted[visible] = False
        seen = need & (age < NEVER)
        view[seen], ages[seen], need[seen] = memory[seen], age[seen], False
