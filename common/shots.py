"""Shot boundaries in a stream of frames: small detectors with one job each, and a manager
that owns the loop (the shape of PySceneDetect's SceneManager and detectors; our own code).

Every frame is reduced once to :class:`Features` (a small HSV picture and a grey one); each
detector sees the features of every frame in order and reports a :class:`Transition` when it
is sure of one, possibly some frames later (look-ahead), and the rest at :meth:`flush`.
:func:`detect` runs detectors over frames and merges what they find into one ordered list.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from common import transnetv2

WIDTH = 96
"""Width in pixels frames are reduced to before comparison (aspect kept)."""
SOFTEN = 1.0
"""Gaussian sigma (pixels of the reduced frame) taken off before comparison."""


@dataclass(frozen=True)
class Transition:
    """A change of shot. ``start``: the first frame not wholly of the old shot; ``end``: the
    first frame wholly of the new one (``start == end`` for a cut); ``kind``: "cut" or
    "gradual"; ``score``: the detector's evidence (its own scale)."""

    start: int
    end: int
    kind: str
    score: float = 0.0


@dataclass(frozen=True)
class Features:
    """One frame reduced for comparison: ``index`` in the stream, ``hsv`` (``float32``
    h x w x 3: hue in degrees 0-358, saturation and value 0-255), ``grey`` (``float32``
    h x w, 0-255) and ``thumb``, the ``uint8`` RGB 48 x 27 picture TransNetV2 reads."""

    index: int
    hsv: np.ndarray
    grey: np.ndarray
    thumb: np.ndarray


def features(index: int, rgb: np.ndarray) -> Features:
    """``rgb`` (``uint8`` H x W x 3) reduced to :data:`WIDTH` pixels wide (area averaging)
    and softened (Gaussian, sigma :data:`SOFTEN` px), so grain and sub-pixel texture do not
    count as change."""
    h, w = rgb.shape[:2]
    size = (WIDTH, max(1, round(h * WIDTH / w)))
    small = cv2.GaussianBlur(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), (0, 0), SOFTEN)
    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 0] *= 2.0
    grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32)
    thumb = cv2.resize(rgb, (transnetv2.WIDTH, transnetv2.HEIGHT), interpolation=cv2.INTER_AREA)
    return Features(index, hsv, grey, thumb)


def content_distance(a: Features, b: Features) -> float:
    """Mean absolute difference of hue (circular, weighted by the lower saturation and value:
    grey and dark pixels have no reliable hue), saturation (weighted by the lower value) and
    value between two frames, averaged over the three: 0-255, a scale like that of
    PySceneDetect's ContentDetector (whose default cut threshold, 27, is ours too)."""
    return _distance(a.hsv, b.hsv)


def _distance(a: np.ndarray, b: np.ndarray) -> float:
    diff = np.abs(a - b)
    colourful = np.minimum(a[..., 1], b[..., 1]) / 255.0
    lit = np.minimum(a[..., 2], b[..., 2]) / 255.0
    hue = np.minimum(diff[..., 0], 360.0 - diff[..., 0]) * (255.0 / 180.0) * colourful * lit
    saturation = diff[..., 1] * lit
    return float((hue.mean() + saturation.mean() + diff[..., 2].mean()) / 3.0)


def aligned_distance(a: Features, b: Features) -> float:
    """:func:`content_distance` after undoing the camera's translation between the frames
    (phase correlation of the grey pictures, sub-pixel), over the part both frames show: a
    pan scores like a still shot, a cut stays far."""
    return min(content_distance(a, b), _distance(*_aligned(a, b)))


def aligned_correlation(a: Features, b: Features, shift: np.ndarray | None = None) -> float:
    """Correlation (zero mean, -1 to 1) of two frames' grey pictures after undoing the camera's
    translation (``shift``, pixels of the reduced frame, or the one phase correlation finds):
    near 1 for the same view, however lit; low for another view."""
    x, y = (p - p.mean() for p in _aligned(a, b, "grey", shift))
    norm = float(np.sqrt((x * x).sum() * (y * y).sum()))
    return float((x * y).sum() / norm) if norm > 0 else 0.0


def _aligned(
    a: Features, b: Features, field: str = "hsv", shift: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``a``'s picture ``field`` ("hsv" or "grey") and ``b``'s moved onto it by ``shift`` (the
    translation phase correlation finds between their grey pictures, when not given), both
    cropped to what the two frames share (whole, when the shift is over half the frame)."""
    h, w = a.grey.shape
    dx, dy = _shift(a.grey, b.grey) if shift is None else shift
    mx, my = int(np.ceil(abs(dx))) + 1, int(np.ceil(abs(dy))) + 1
    picture_a, picture_b = getattr(a, field), getattr(b, field)
    if 2 * mx >= w or 2 * my >= h:
        return picture_a, picture_b
    back = np.float32([[1, 0, -dx], [0, 1, -dy]])
    moved = cv2.warpAffine(picture_b, back, (w, h), flags=cv2.INTER_LINEAR)
    inner = (slice(my, h - my), slice(mx, w - mx))
    return picture_a[inner], moved[inner]


@functools.lru_cache(maxsize=8)
def _hann(width: int, height: int) -> np.ndarray:
    """The window phase correlation needs on pictures that do not wrap around."""
    return cv2.createHanningWindow((width, height), cv2.CV_32F)


class Detector(Protocol):
    """What :func:`detect` drives: ``push`` each frame's features in order, then ``flush``."""

    def push(self, frame: Features) -> list[Transition]: ...

    def flush(self) -> list[Transition]: ...


class CutDetector:
    """Hard cuts: consecutive frames whose motion-compensated content distance
    (:func:`aligned_distance`) reaches ``threshold``, unless the picture comes back within
    ``flash_frames`` (a flash, a strobe, a frame of glare: the frame after it is close to the
    one before it again).

    Args:
        threshold: 0-255, the ContentDetector scale (default 27).
        flash_frames: frames a candidate cut waits for the picture to come back (>= 0).
        min_shot_frames: frames a shot lasts at least; a cut closer to the previous one is
            dropped.
    """

    def __init__(self, threshold: float = 27.0, flash_frames: int = 4, min_shot_frames: int = 8):
        self.threshold = threshold
        self.flash_frames = flash_frames
        self.min_shot_frames = min_shot_frames
        self._previous: Features | None = None
        self._pending: list[tuple[Transition, Features]] = []
        self._quiet_until = -1
        self._last_cut = -(10**9)

    def push(self, frame: Features) -> list[Transition]:
        found: list[Transition] = []
        still = []
        for cut, before in self._pending:
            if aligned_distance(before, frame) < self.threshold / 2:
                self._quiet_until = frame.index  # the picture came back: a flash
            elif frame.index - cut.start >= self.flash_frames:
                found += self._accept(cut)
            else:
                still.append((cut, before))
        self._pending = [(c, b) for c, b in still if c.start > self._quiet_until]
        if self._previous is not None and frame.index > self._quiet_until:
            distance = aligned_distance(self._previous, frame)
            if distance >= self.threshold:
                cut = Transition(frame.index, frame.index, "cut", distance)
                if self.flash_frames == 0:
                    found += self._accept(cut)
                else:
                    self._pending.append((cut, self._previous))
        self._previous = frame
        return found

    def flush(self) -> list[Transition]:
        found = [t for cut, _ in self._pending for t in self._accept(cut)]
        self._pending = []
        return found

    def _accept(self, cut: Transition) -> list[Transition]:
        if cut.start - self._last_cut < self.min_shot_frames:
            return []
        self._last_cut = cut.start
        return [cut]


GRADUAL_FRAMES = 2
"""Frames a run scored only as inside a transition must last to count as one."""
RUN_GAP = 2
"""Frames not scored as in a transition that may part one run (a dissolve's scores dip)."""
VIEW_STEPS = (1, 2, 4)
"""Frames apart that are compared to tell one view moving from a transition."""
TEXTURE = 16.0
"""Grey-level standard deviation below which a frame is too flat (black, white, one colour)
to be recognised when it comes back."""


FADED = 64.0
"""Grey levels from mid-grey (127.5) beyond which a flat frame is dark or bright enough to be
the middle of a fade."""


def _textured(frame: Features) -> bool:
    return float(frame.grey.std()) >= TEXTURE


def _faded(frame: Features) -> bool:
    return not _textured(frame) and abs(float(frame.grey.mean()) - 127.5) > FADED


def _best_correlation(a: Features, b: Features, shift: np.ndarray) -> float:
    """:func:`aligned_correlation` at the best of the shifts within half a pixel of ``shift``
    (shifts summed from frame to frame drift by fractions of a pixel, which is enough to
    decorrelate fine texture)."""
    offsets = (-0.5, 0.0, 0.5)
    return max(
        aligned_correlation(a, b, shift + np.array([ox, oy])) for ox in offsets for oy in offsets
    )


Scorer = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
"""TransNetV2 on windows: ``uint8`` (N, 100, 27, 48, 3) -> (single, many), ``float32`` (N, 100)
(Triton's ``transnetv2`` model, or the module in-process)."""


class TransNetDetector:
    """Transitions TransNetV2 scores (``score``), run on windows of 100 frames sliding by 50,
    the first padded with the first frame and the last with the last, keeping frames 25-74 of
    each, as the network's authors run it. A run of frames scored above ``threshold`` is one
    transition: a cut when one frame long (the frame after it starts the new shot), gradual
    otherwise, spanning the neighbouring frames scored as inside a transition (above
    ``gradual_threshold``); a long enough run scored only as inside one is gradual too (the
    network often sees dissolves and fades only so) unless every frame of it shows the view of
    the frame before (a camera move or a change of light). A run after which the view seen up
    to ``flash_frames`` before it comes back within ``flash_frames`` is a flash and dropped
    (flat frames, as in a fade through black, are not compared).

    Args:
        score: the network (see :data:`Scorer`).
        threshold: probability, 0-1 (0.5, as the authors').
        flash_frames: frames after a run within which the picture may come back (>= 0; 0 keeps
            every run).
        same_view: structure correlation (:func:`aligned_correlation`, -1 to 1) from which two
            frames show the same view (a flash changes the light and a pan shifts the view;
            neither changes it).
        gradual_threshold: probability, 0-1, of being inside a transition (0.5; the camera
            moves the network takes for one are dropped as showing one view); 1 leaves the
            inside scores out (the authors' way: transitions from transition scores alone).
    """

    def __init__(
        self,
        score: Scorer,
        threshold: float = 0.5,
        flash_frames: int = 4,
        same_view: float = 0.95,
        gradual_threshold: float = 0.5,
    ):
        self.score = score
        self.threshold = threshold
        self.gradual_threshold = gradual_threshold
        self.flash_frames = flash_frames
        self.same_view = same_view
        self._window: list[np.ndarray] = []
        self._scores: dict[int, tuple[float, float]] = {}  # frame -> (single, many)
        self._recent: dict[int, Features] = {}
        self._next = 0  # the first frame not scored yet
        self._from = 0  # the first frame not resolved yet
        self._forgotten = 0  # frames before it are no longer kept
        self._pushed = 0

    def push(self, frame: Features) -> list[Transition]:
        if not self._window:
            self._window = [frame.thumb] * transnetv2.CONTEXT
        self._window.append(frame.thumb)
        self._recent[frame.index] = frame
        self._pushed = frame.index + 1
        if len(self._window) == transnetv2.WINDOW:
            self._run(transnetv2.STRIDE)
        return self._resolve(final=False)

    def flush(self) -> list[Transition]:
        while self._next < self._pushed:
            self._window += [self._window[-1]] * (transnetv2.WINDOW - len(self._window))
            self._run(min(transnetv2.STRIDE, self._pushed - self._next))
        return self._resolve(final=True)

    def _run(self, keep: int) -> None:
        single, many = self.score(np.stack(self._window)[None])
        for offset in range(keep):
            k = transnetv2.CONTEXT + offset
            self._scores[self._next + offset] = (float(single[0, k]), float(many[0, k]))
        self._next += keep
        self._window = self._window[transnetv2.STRIDE :]

    def _resolve(self, final: bool) -> list[Transition]:
        """Transitions of the runs that have ended, once the frames after them (for the flash
        check) have arrived; later runs wait."""
        found: list[Transition] = []
        k = self._from
        while k < self._next:
            if not self._inside(k):
                k = self._from = k + 1
                continue
            last = k
            while True:
                ahead = [j for j in range(last + 1, last + 2 + RUN_GAP) if j < self._next]
                later = [j for j in ahead if self._inside(j)]
                if not later:
                    break
                last = later[0]
            ended = last + 1 + RUN_GAP < self._next and last + self.flash_frames < self._pushed
            if not (ended or final):
                break
            found += self._transitions(k, last)
            k = self._from = last + 1
        for i in range(self._forgotten, self._from - transnetv2.WINDOW):
            self._scores.pop(i, None)
            self._recent.pop(i, None)
        self._forgotten = max(self._forgotten, self._from - transnetv2.WINDOW)
        return found

    def _inside(self, k: int) -> bool:
        single, many = self._scores[k]
        return single > self.threshold or many > self.gradual_threshold

    def _transitions(self, start: int, last: int) -> list[Transition]:
        """The transitions of a run of frames ``start``..``last`` scored as transitions or as
        inside one: each run of frames scored as a transition is a cut or gradual (longer than
        a frame, beside a faded frame, or with :data:`GRADUAL_FRAMES` frames inside one on
        each side: the network can peak once in the middle of a dissolve); a run scored only
        as inside a transition, at least :data:`GRADUAL_FRAMES` long, is gradual. None when the
        view before the run comes back after it (a flash)."""
        first, end = start, last + 1
        while start - 1 in self._recent and _faded(self._recent[start - 1]):
            start -= 1  # the black or white middle of a fade belongs to it
        while end in self._recent and _faded(self._recent[end]):
            end += 1
        through_faded = (start, end) != (first, last + 1)
        if self._comes_back(start, end):
            return []
        scores = [self._scores.get(i, (0.0, 0.0)) for i in range(start, end)]
        peaks = [start + k for k, (single, _) in enumerate(scores) if single > self.threshold]
        if not peaks:
            if end - start < GRADUAL_FRAMES or self._one_view(start, end):
                return []
            return [Transition(start, end, "gradual", max(many for _, many in scores))]
        runs = np.split(np.array(peaks), np.flatnonzero(np.diff(peaks) > 1) + 1)
        found = []
        for run in runs:
            peak = max(self._scores[int(i)][0] for i in run)
            middle = min(int(run[0]) - start, end - int(run[-1]) - 1) >= GRADUAL_FRAMES
            if len(run) == 1 and not (through_faded or middle):
                found.append(Transition(int(run[0]) + 1, int(run[0]) + 1, "cut", peak))
            else:
                found.append(Transition(start, end, "gradual", peak))
        return found

    def _one_view(self, start: int, end: int) -> bool:
        """Whether frames ``start - 1`` to ``end`` show one view: none is faded and each
        textured one shows the view of the textured frames up to :data:`VIEW_STEPS` before it
        (correlation at least ``same_view`` after the camera travel summed frame by frame,
        compared while that is under a quarter of the frame). So are a camera move or a change
        of light, which the network can take for being inside a transition; a dissolve mixes
        two views (frames a few apart differ even when each differs little from the one
        before) and a fade passes through a dark or bright flat frame."""
        frames = [self._recent.get(i) for i in range(start - 1, end + 1)]
        if any(f is None or _faded(f) for f in frames):
            return False
        h, w = frames[0].grey.shape
        moves = [_shift(a.grey, b.grey) for a, b in itertools.pairwise(frames)]
        travel = np.cumsum([np.zeros(2), *moves], axis=0)
        for step in VIEW_STEPS:
            for i in range(len(frames) - step):
                a, b = frames[i], frames[i + step]
                shift = travel[i + step] - travel[i]
                far = abs(shift[0]) >= w / 4 or abs(shift[1]) >= h / 4
                if far or not (_textured(a) and _textured(b)):
                    continue
                if _best_correlation(a, b, shift) < self.same_view:
                    return False
        return True

    def _comes_back(self, start: int, end: int) -> bool:
        """Whether the view up to ``flash_frames`` before ``start`` is seen again within
        ``flash_frames`` from ``end`` (flat frames, as in a fade, are not compared)."""
        span = range(self.flash_frames)
        before = [self._recent.get(start - 1 - k) for k in span]
        later = [self._recent.get(end + k) for k in span]
        return any(
            b is not None
            and a is not None
            and _textured(b)
            and _textured(a)
            and aligned_correlation(b, a) >= self.same_view
            for b in before
            for a in later
        )


WIPE_DIRECTIONS = 16
"""Directions a wipe's edge is looked for in, evenly spread over 360° in the frame's own
proportions (so the corner-to-corner diagonals are among them)."""
WIPE_BINS = 48
"""Positions across the frame a wipe's edge is placed at, per direction."""
WIPE_OVERLAP = 0.3
"""Share of the frame the three compared pictures must all show (after undoing the cameras'
moves) for a frame to be judged."""
WIPE_TRAVEL = 0.25
"""Largest camera travel (share of the frame's width) between compared frames: a shot whose
camera moves faster is compared over fewer frames than ``gap``."""
WIPE_AGREE = 3.0
"""Pixels (of the reduced frame) within which the shift phase correlation finds between the
judged frame and a compared one must agree with the one extrapolated from that shot's own
motion to be used (part of the frame is another shot, which can mislead it)."""


class WipeDetector:
    """Wipes: a straight edge sweeping across the frame, behind which shot B replaces shot A
    (any direction, 6-45 frames by default; both shots may move). Frame ``t`` is compared with
    frame ``t - gap`` (A) and frame ``t + gap`` (B), each moved onto it by the translation of
    its own shot's camera (phase correlation over the ``motion_frames`` beyond it, so inside
    that shot; a shot moving more than :data:`WIPE_TRAVEL` of the width over ``gap`` frames is
    compared over fewer). A pixel is A's when its distance to A is under ``ratio`` times that
    to B and its distance to B is at least ``contrast`` (B's likewise); in a wipe the two sets
    lie on either side of a straight line (``agreement``) and each side, compared with the
    other shot, is another view (its local correlation stays under ``same_view``). When for
    ``min_frames`` or more frames in a row that line keeps its direction and sweeps steadily
    (``max_residual``) across the frame in ``frames`` frames, the wipe is reported, from the
    first frame the line has entered to the first it has left (the line's positions
    extrapolated), about ``gap + motion_frames + 3`` frames after it ends.

    Not wipes: pans, objects crossing, flashes and changes of light (the frames before and
    after show the same view, so no pixels are A's alone while others are B's alone); a
    shadow or a light sweeping across a view (the sides correlate); cuts, dissolves and fades
    (no sweeping line). Missed: wipes with a bent or soft edge (iris, clock, feathered), with
    a camera turning, zooming or moving faster than a quarter of the frame a frame, between
    views too alike (the same colours and light) to tell apart, or shorter than ``min_frames``
    frames of both sides showing (a diagonal wipe under ~12 frames).

    Args:
        gap: frames between the judged frame and those it is compared with (>= 1; 12).
        motion_frames: frames each shot's camera move is measured over (>= 1; 4).
        reach: pixels of the reduced frame (:data:`WIDTH` wide) of misalignment forgiven, as
            each pixel is compared with the range of values within ``reach`` of it (>= 0; 2).
        contrast: content distance per pixel (0-255, as :func:`content_distance`) from the
            other shot a pixel must have to count for one (20).
        ratio: a pixel counts for a shot when its distance to it is under ``ratio`` times
            that to the other (0-1; 0.5).
        agreement: share of the counted pixels the best straight line must leave on their
            side (0-1; 0.95).
        same_view: mean local correlation (-1 to 1, grey windows of 7 x 7 pixels) of each side
            with the other shot's picture above which the two are one view lit otherwise
            (0.5; wipes between unrelated views score about 0).
        min_share: share of the compared pixels each side must have (0-1; 0.03).
        min_frames: frames in a row the line must be seen (>= 2; 6).
        max_residual: root-mean-square distance of the line's positions (share of the frame
            across it, 0-1) from a steady sweep (0.06).
        frames: (shortest, longest) wipe, frames.
    """

    def __init__(
        self,
        gap: int = 12,
        motion_frames: int = 4,
        reach: int = 2,
        contrast: float = 20.0,
        ratio: float = 0.5,
        agreement: float = 0.95,
        same_view: float = 0.5,
        min_share: float = 0.03,
        min_frames: int = 6,
        max_residual: float = 0.06,
        frames: tuple[int, int] = (6, 45),
    ):
        self.gap = gap
        self.motion_frames = motion_frames
        self.reach = reach
        self.contrast = contrast
        self.ratio = ratio
        self.agreement = agreement
        self.same_view = same_view
        self.min_share = min_share
        self.min_frames = min_frames
        self.max_residual = max_residual
        self.frames = frames
        self._recent: dict[int, Features] = {}
        self._value: dict[int, np.ndarray] = {}  # frame -> its HSV value channel
        self._moves: dict[int, np.ndarray] = {}  # frame -> content shift from the frame before
        self._run: list[tuple[int, int, float, float]] = []  # (frame, direction, edge, agreement)

    def push(self, frame: Features) -> list[Transition]:
        self._recent[frame.index] = frame
        self._value[frame.index] = np.ascontiguousarray(frame.hsv[..., 2])
        previous = self._value.get(frame.index - 1)
        if previous is not None:
            self._moves[frame.index] = _shift(previous, self._value[frame.index])
        t = frame.index - self.gap - self.motion_frames
        found = self._judge(t) if t - self.gap - self.motion_frames in self._recent else []
        for old in [i for i in self._recent if i <= t - self.gap - self.motion_frames]:
            self._recent.pop(old)
            self._value.pop(old)
            self._moves.pop(old, None)
        return found

    def flush(self) -> list[Transition]:
        found = self._close()
        self._recent, self._value, self._moves, self._run = {}, {}, {}, []
        return found

    def _judge(self, t: int) -> list[Transition]:
        """Frame ``t``'s edge (if any) added to the current run; the run's wipe when it ends."""
        seen = self._edge(t)
        found: list[Transition] = []
        if self._run:
            last, direction = self._run[-1][:2]
            turned = seen is not None and _turn(seen[0], direction) > 1
            if t - last > 2 or turned:
                found = self._close()
        if seen is not None:
            self._run.append((t, *seen))
        return found

    def _edge(self, t: int) -> tuple[int, float, float] | None:
        """(direction, position 0-1, agreement) of the straight line parting frame ``t`` into
        what the frames before show and what the frames after show, or None."""
        g, k = self.gap, self.motion_frames
        moves = [
            self._moves.get(i)
            for i in (*range(t - g - k + 1, t - g + 1), *range(t + g + 1, t + g + k + 1))
        ]
        if any(m is None for m in moves):
            return None
        frame = self._recent[t]
        h, w = frame.grey.shape
        distances, placed, valid = [], [], np.ones((h, w), bool)
        for side, motion in ((-1, moves[:k]), (1, moves[k:])):
            # The shot's camera move per frame; a fast one is compared over fewer frames.
            step = np.median(motion, axis=0)
            speed = float(np.hypot(*step))
            near = min(g, max(1, int(WIPE_TRAVEL * w / speed))) if speed > 0 else g
            other = self._recent[t + side * near]
            shift = _shift(self._value[t], self._value[t + side * near])
            guess = side * near * step  # where frame t's content of that shot lies in it
            if np.hypot(*(shift - guess)) > WIPE_AGREE:
                shift = guess
            distance, shown = _distance_to_neighbourhood(frame, other, shift, self.reach)
            distances.append(distance)
            placed.append((self._value[t + side * near], shift))
            valid &= shown
        if valid.mean() < WIPE_OVERLAP:
            return None
        to_a, to_b = distances
        is_a = valid & (to_a < self.ratio * to_b) & (to_b > self.contrast)
        is_b = valid & (to_b < self.ratio * to_a) & (to_a > self.contrast)
        shown = int(valid.sum())
        if min(is_a.sum(), is_b.sum()) < self.min_share * shown:
            return None
        direction, position, agreement = _straight_edge(is_a, is_b)
        if agreement < self.agreement:
            return None
        # Each side compared with the other shot's picture: another view, or the same re-lit?
        (before, to_before), (after, to_after) = placed
        total, count = _local_correlation(self._value[t], before, to_before, is_b)
        more, extra = _local_correlation(self._value[t], after, to_after, is_a)
        if count + extra and (total + more) / (count + extra) > self.same_view:
            return None
        return direction, position, agreement

    def _close(self) -> list[Transition]:
        """The current run's wipe, if its edge swept across steadily; the run is cleared."""
        run, self._run = self._run, []
        if len(run) < self.min_frames:
            return []
        t = np.array([r[0] for r in run], np.float64)
        edge = np.array([r[2] for r in run])
        rate, offset = np.polyfit(t, edge, 1)
        residual = float(np.sqrt(np.mean((rate * t + offset - edge) ** 2)))
        shortest, longest = self.frames
        if residual > self.max_residual or not 1 / longest <= rate <= 1 / shortest:
            return []
        start = int(np.floor(-offset / rate)) + 1  # the first frame the edge has entered
        end = int(np.ceil((1 - offset) / rate))  # the first frame it has left
        return [Transition(start, end, "gradual", float(np.mean([r[3] for r in run])))]


def _local_correlation(
    x: np.ndarray, other: np.ndarray, shift: np.ndarray, where: np.ndarray
) -> tuple[float, int]:
    """Sum and count, over the pixels of ``where`` textured in both, of the correlation (-1 to
    1) in 7 x 7 windows of two pictures: ``x`` and ``other`` moved back by ``shift``."""
    h, w = x.shape
    back = np.float32([[1, 0, -float(shift[0])], [0, 1, -float(shift[1])]])
    y = cv2.warpAffine(other, back, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    def mean(z: np.ndarray) -> np.ndarray:
        return cv2.blur(z, (7, 7))

    mx, my = mean(x), mean(y)
    vx, vy = mean(x * x) - mx * mx, mean(y * y) - my * my
    cxy = mean(x * y) - mx * my
    textured = where & (vx > 16.0) & (vy > 16.0)
    r = cxy[textured] / np.sqrt(vx[textured] * vy[textured])
    return float(r.sum()), int(r.size)


def _shift(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The translation (dx, dy, pixels, sub-pixel) of the content from picture ``a`` to
    picture ``b`` (phase correlation)."""
    h, w = a.shape
    # Copies: OpenCV applies the window to its inputs in place.
    (dx, dy), _ = cv2.phaseCorrelate(a.copy(), b.copy(), _hann(w, h))
    return np.array([dx, dy])


def _distance_to_neighbourhood(
    frame: Features, other: Features, shift: np.ndarray, reach: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel of ``frame``, the content distance (0-255, weighted as in
    :func:`content_distance`) of its HSV values from the range ``other`` (moved back by
    ``shift``) takes within ``reach`` pixels; and where ``other`` shows the same place
    (``bool``)."""
    h, w = frame.grey.shape
    dx, dy = float(shift[0]), float(shift[1])
    back = np.float32([[1, 0, -dx], [0, 1, -dy]])
    moved = cv2.warpAffine(
        other.hsv, back, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    kernel = np.ones((2 * reach + 1, 2 * reach + 1), np.uint8)
    low, high = cv2.erode(moved, kernel), cv2.dilate(moved, kernel)
    m = frame.hsv
    diff = np.maximum(low - m, 0) + np.maximum(m - high, 0)
    colourful, lit = m[..., 1] / 255.0, m[..., 2] / 255.0
    hue = np.minimum(diff[..., 0], 360.0 - diff[..., 0]) * (255.0 / 180.0) * colourful * lit
    distance = (hue + diff[..., 1] * lit + diff[..., 2]) / 3.0
    valid = np.zeros((h, w), bool)
    x0, x1 = (
        max(reach, int(np.ceil(reach - dx))),
        min(w - reach, int(np.floor(w - 1 - reach - dx)) + 1),
    )
    y0, y1 = (
        max(reach, int(np.ceil(reach - dy))),
        min(h - reach, int(np.floor(h - 1 - reach - dy)) + 1),
    )
    if x0 < x1 and y0 < y1:
        valid[y0:y1, x0:x1] = True
    return distance, valid


@functools.lru_cache(maxsize=4)
def _edge_bins(height: int, width: int) -> np.ndarray:
    """For each of :data:`WIPE_DIRECTIONS` directions and each pixel, the bin (of
    :data:`WIPE_BINS` across the frame along that direction, offset by direction) it lies in."""
    angles = np.arange(WIPE_DIRECTIONS) * (2 * np.pi / WIPE_DIRECTIONS)
    ys, xs = np.mgrid[0:height, 0:width]
    across, down = (xs + 0.5) / width - 0.5, (ys + 0.5) / height - 0.5
    cos, sin = np.cos(angles)[:, None, None], np.sin(angles)[:, None, None]
    along = across[None] * cos + down[None] * sin
    low = along.min(axis=(1, 2), keepdims=True)
    high = along.max(axis=(1, 2), keepdims=True)
    bins = np.minimum(((along - low) / (high - low) * WIPE_BINS).astype(np.int64), WIPE_BINS - 1)
    return bins + (np.arange(WIPE_DIRECTIONS) * WIPE_BINS)[:, None, None]


def _straight_edge(is_a: np.ndarray, is_b: np.ndarray) -> tuple[int, float, float]:
    """The straight edge best putting the ``is_b`` pixels behind it and the ``is_a`` ones ahead:
    (direction index, share 0-1 of the frame's extent behind it, share of those pixels it puts
    on their side)."""
    bins = _edge_bins(*is_a.shape)
    size = WIPE_DIRECTIONS * WIPE_BINS
    a = np.bincount(bins[:, is_a].ravel(), minlength=size).reshape(WIPE_DIRECTIONS, WIPE_BINS)
    b = np.bincount(bins[:, is_b].ravel(), minlength=size).reshape(WIPE_DIRECTIONS, WIPE_BINS)
    zero = np.zeros((WIPE_DIRECTIONS, 1))
    behind_a = np.concatenate([zero, np.cumsum(a, axis=1)], axis=1)
    behind_b = np.concatenate([zero, np.cumsum(b, axis=1)], axis=1)
    right = behind_b + (a.sum(axis=1, keepdims=True) - behind_a)
    direction, edge = np.unravel_index(int(np.argmax(right)), right.shape)
    total = int(is_a.sum() + is_b.sum())
    if total == 0:
        return 0, 0.0, 0.0
    return int(direction), edge / WIPE_BINS, float(right[direction, edge]) / total


def _turn(a: int, b: int) -> int:
    """Steps between two of the :data:`WIPE_DIRECTIONS` directions."""
    step = abs(a - b) % WIPE_DIRECTIONS
    return min(step, WIPE_DIRECTIONS - step)


def detect(frames: Iterable[np.ndarray], detectors: Sequence[Detector]) -> list[Transition]:
    """Every transition the detectors find in ``frames`` (``uint8`` RGB, in order), by start,
    merged (:func:`merge`)."""
    found: list[Transition] = []
    for index, rgb in enumerate(frames):
        frame = features(index, rgb)
        for detector in detectors:
            found += detector.push(frame)
    for detector in detectors:
        found += detector.flush()
    return merge(found)


def merge(found: Iterable[Transition]) -> list[Transition]:
    """Transitions from several detectors as one list by start. Two that overlap or leave at
    most :data:`RUN_GAP` frames between them are one change: a cut reported twice a frame
    apart is one cut; otherwise one gradual transition spans both (no shot is that short; a
    fade can be reported as a gradual part and a cut)."""
    merged: list[Transition] = []
    for t in sorted(found, key=lambda t: (t.start, -(t.end - t.start))):
        if not merged or t.start > merged[-1].end + RUN_GAP:
            merged.append(t)
            continue
        last = merged[-1]
        if t.end <= last.end or (last.kind == t.kind == "cut" and t.start - last.end <= 1):
            continue
        longer = t if t.end - t.start > last.end - last.start else last
        merged[-1] = Transition(last.start, t.end, "gradual", longer.score)
    return merged
