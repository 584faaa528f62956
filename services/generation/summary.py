"""Video summaries as plain functions on numbers and pictures: shots from transitions, their
importance, keyframes, a storyboard, and the spans of a skim.

What a frame contributes is measured once, on the way through (:class:`FrameMeasures`):
sharpness, exposure and motion. Faces and text are looked for only in each shot's keyframe
(by the caller, through the segmentation capabilities) and enter :func:`shot_score`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from common import shots

QUALITY_WIDTH = 320
"""Width in pixels a frame is reduced to before its sharpness and exposure are measured."""
DARK, BRIGHT = 16, 239
"""Grey levels at or below which a pixel is crushed, at or above which it is clipped."""
TRANSITION_MARGIN = 2
"""Frames next to a transition that are not keyframe material (still partly blended); next
to a gradual one, half its detected length more (detectors often see only its middle)."""
WEIGHTS = {"motion": 0.25, "faces": 0.25, "text": 0.15, "sharpness": 0.2, "exposure": 0.15}
"""How much each signal counts in a shot's importance (they sum to 1)."""
MIN_PIECE = 1.5
"""Shortest piece of a skim in seconds (shorter ones read as a glitch)."""
PIECE_SHARE, PIECE_RANGE = 1 / 6, (3.0, 10.0)
"""A skim piece is at most this share of the skim's length, kept within this range (s), so
a skim shows several shots rather than one long one."""
EXTRA_KEYFRAME_SECONDS = 4.0
"""A long shot offers one more keyframe for every this many seconds (used when the caller
asks for more keyframes than there are shots)."""
DUPLICATE_CORRELATION, DUPLICATE_DISTANCE = 0.9, 12.0
"""Two keyframes are near-duplicates when their structure correlates at least this much
(:func:`shots.aligned_correlation`) and their content differs less than this (0-255)."""
FADE_SHARE = 0.8
"""Brightness, as a share of a shot's median, below which the frames at its ends count as
part of a fade (:func:`without_fades`)."""
LABEL_HEIGHT = 22
"""Height in pixels of the time label under each storyboard tile."""


@dataclass
class FrameMeasures:
    """Per-frame measures of the frames analysed, in order: ``seconds`` from the source's
    start, ``sharpness`` (variance of the Laplacian of the grey frame at
    :data:`QUALITY_WIDTH`), ``exposure`` (0-1: the share of pixels neither crushed nor
    clipped), ``motion`` (content change from the frame before after undoing camera
    translation, 0-255, :func:`shots.aligned_distance`; 0 for the first) and ``brightness``
    (mean grey level, 0-255)."""

    seconds: list[float] = field(default_factory=list)
    sharpness: list[float] = field(default_factory=list)
    exposure: list[float] = field(default_factory=list)
    motion: list[float] = field(default_factory=list)
    brightness: list[float] = field(default_factory=list)

    def add(self, seconds: float, rgb: np.ndarray, motion: float) -> None:
        """Measure one ``uint8`` RGB frame."""
        h, w = rgb.shape[:2]
        width = min(w, QUALITY_WIDTH)
        small = cv2.resize(rgb, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)
        grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
        self.seconds.append(seconds)
        self.sharpness.append(float(cv2.Laplacian(grey, cv2.CV_32F).var()))
        self.exposure.append(float(((grey > DARK) & (grey < BRIGHT)).mean()))
        self.brightness.append(float(grey.mean()))
        self.motion.append(motion)

    def __len__(self) -> int:
        return len(self.seconds)

    def end_seconds(self, fps: float) -> float:
        """When the last frame stops showing (one frame interval after it)."""
        step = self.seconds[-1] - self.seconds[-2] if len(self) > 1 else 1.0 / (fps or 25.0)
        return self.seconds[-1] + step


@dataclass(frozen=True)
class Shot:
    """Frames ``first``..``end - 1`` of the analysed frames. Shots tile the video: a cut
    starts the next shot, a gradual transition is split at its middle. ``clean`` is the part
    no transition touches (``first`` <= clean.start < clean.stop <= ``end``), where
    keyframes and skim pieces come from."""

    first: int
    end: int
    clean: range


def without_fades(found: list[Shot], brightness: list[float]) -> list[Shot]:
    """``found`` with each clean part trimmed at either end while its frames are darker than
    :data:`FADE_SHARE` of the part's median brightness (a fade through black the detectors
    reported as a cut near its end); at least half the part is kept."""
    level = np.asarray(brightness)
    trimmed = []
    for shot in found:
        lo, hi = shot.clean.start, shot.clean.stop
        floor = FADE_SHARE * float(np.median(level[lo:hi]))
        keep = (hi - lo + 1) // 2
        while hi - lo > keep and level[hi - 1] < floor:
            hi -= 1
        while hi - lo > keep and level[lo] < floor:
            lo += 1
        trimmed.append(Shot(shot.first, shot.end, range(lo, hi)))
    return trimmed


def split(transitions: list[shots.Transition], count: int, min_frames: int) -> list[Shot]:
    """The shots of ``count`` frames between ``transitions`` (by start, not overlapping).
    A shot shorter than ``min_frames`` between two transitions joins them into one gradual
    transition (a fade reported as a gradual part and a cut, a flash-cut); the first and the
    last shot, when short, join their neighbour.
    """
    kept = [t for t in transitions if 0 < t.start < count]
    while True:
        cuts = [0] + [(t.start + t.end) // 2 if t.kind == "gradual" else t.start for t in kept]
        lengths = np.diff([*cuts, count])
        short = [k for k, n in enumerate(lengths) if n < min_frames]
        if not short or not kept:
            break
        k = short[0]
        if 0 < k < len(kept):
            a, b = kept[k - 1], kept[k]
            kept[k - 1 : k + 1] = [
                shots.Transition(a.start, b.end, "gradual", max(a.score, b.score))
            ]
        else:
            del kept[max(0, k - 1)]
    found = []
    for k, first in enumerate(cuts):
        end = cuts[k + 1] if k + 1 < len(cuts) else count
        lo = kept[k - 1].end + _margin(kept[k - 1]) if k > 0 else first
        hi = kept[k].start - _margin(kept[k]) if k < len(kept) else end
        lo, hi = min(max(lo, first), end - 1), max(min(hi, end), first + 1)
        found.append(Shot(first, end, range(lo, hi) if lo < hi else range(first, end)))
    return found


def _margin(t: shots.Transition) -> int:
    return TRANSITION_MARGIN + ((t.end - t.start) // 2 if t.kind == "gradual" else 0)


def relative(values: np.ndarray, reference: float) -> np.ndarray:
    """``values`` mapped to 0-1 as v / (v + reference): 0.5 at the reference (e.g. the
    video's median), so scores compare shots within one video."""
    return values / (values + reference) if reference > 0 else np.zeros_like(values)


@dataclass(frozen=True)
class Candidate:
    """A keyframe candidate: frame ``index`` in shot ``shot``, its ``quality`` (0-1) and
    ``extra`` (a second or later candidate of its shot)."""

    index: int
    shot: int
    quality: float
    extra: bool


def candidates(measures: FrameMeasures, found: list[Shot]) -> list[Candidate]:
    """The best frame of each shot's clean part (sharp, well exposed, still), and an extra one
    per :data:`EXTRA_KEYFRAME_SECONDS` of a longer shot (a long shot can show several views,
    or hide a transition the detectors missed)."""
    quality = frame_quality(measures)
    seconds = np.asarray(measures.seconds)
    found_all = []
    for s, shot in enumerate(found):
        span = np.asarray(shot.clean)
        length = seconds[span[-1]] - seconds[span[0]]
        parts = max(1, int(length // EXTRA_KEYFRAME_SECONDS))
        for p, part in enumerate(np.array_split(span, parts)):
            best = int(part[np.argmax(quality[part])])
            found_all.append(Candidate(best, s, float(quality[best]), p > 0))
    return found_all


def frame_quality(measures: FrameMeasures) -> np.ndarray:
    """Per frame, 0-1: how good a picture it makes — sharp (relative to the video), well
    exposed, and still (motion blurs)."""
    sharp = np.asarray(measures.sharpness)
    motion = np.asarray(measures.motion)
    return (
        relative(sharp, float(np.median(sharp)))
        * np.asarray(measures.exposure)
        * (1.0 - 0.5 * relative(motion, float(np.median(motion))))
    )


@dataclass(frozen=True)
class Evidence:
    """What was found in a shot's keyframe: ``faces``, the share of the frame faces cover
    (0-1); ``text``, the share covered by text lines (0-1)."""

    faces: float = 0.0
    text: float = 0.0


def shot_scores(measures: FrameMeasures, found: list[Shot], evidence: list[Evidence]) -> np.ndarray:
    """Importance of each shot, 0-1: the :data:`WEIGHTS` of its motion (median over its clean
    frames, relative to the video's median), faces and text in its keyframe (saturating at
    5 % of the frame), sharpness (its best frame, relative) and exposure (mean)."""
    motion = np.asarray(measures.motion)
    sharp = np.asarray(measures.sharpness)
    exposure = np.asarray(measures.exposure)
    per_shot_motion = np.array([np.median(motion[s.clean]) for s in found])
    per_shot_sharp = np.array([sharp[s.clean].max() for s in found])
    signals = {
        "motion": relative(per_shot_motion, float(np.median(motion)) or 1.0),
        "faces": np.array([min(1.0, e.faces / 0.05) for e in evidence]),
        "text": np.array([min(1.0, e.text / 0.05) for e in evidence]),
        "sharpness": relative(per_shot_sharp, float(np.median(sharp))),
        "exposure": np.array([exposure[s.clean].mean() for s in found]),
    }
    return np.clip(sum(WEIGHTS[k] * v for k, v in signals.items()), 0.0, 1.0)


def near_duplicate(a: shots.Features, b: shots.Features) -> bool:
    """Whether two keyframes show the same view (camera translation undone)."""
    return (
        shots.aligned_correlation(a, b) >= DUPLICATE_CORRELATION
        and shots.aligned_distance(a, b) < DUPLICATE_DISTANCE
    )


def choose_keyframes(
    found: list[Candidate],
    scores: np.ndarray,
    looks: dict[int, shots.Features],
    most: int,
) -> list[Candidate]:
    """At most ``most`` candidates, in time order: each shot's first candidate before any
    extra, higher shot scores first, and none that is a near-duplicate of one already
    chosen unless nothing else is left (then the duplicates, by score, fill the budget)."""
    order = sorted(found, key=lambda c: (c.extra, -scores[c.shot], c.index))
    chosen: list[Candidate] = []
    repeats: list[Candidate] = []
    for c in order:
        if len(chosen) == most:
            break
        if any(near_duplicate(looks[c.index], looks[k.index]) for k in chosen):
            repeats.append(c)
        else:
            chosen.append(c)
    chosen += [c for c in repeats if not c.extra][: most - len(chosen)]
    return sorted(chosen, key=lambda c: c.index)


def skim_pieces(
    measures: FrameMeasures, found: list[Shot], scores: np.ndarray, target: float, fps: float
) -> list[tuple[float, float]]:
    """Spans (start, end) in seconds of the source, in time order, that make a skim about
    ``target`` seconds long: from the highest-scoring shots, each span starting where the
    shot's clean part starts and lasting at most ``target`` x :data:`PIECE_SHARE` seconds (so
    several shots are shown), none under :data:`MIN_PIECE`; what is left of the target then
    lengthens the spans, never past their shot's clean part. Spans start on a shot boundary
    and never cross one. The whole video when it is not longer than the target."""
    times = np.asarray([*measures.seconds, measures.end_seconds(fps)])
    if times[-1] - times[0] <= target:
        return [(float(times[0]), float(times[-1]))]
    shortest = min(MIN_PIECE, target)
    longest = float(np.clip(target * PIECE_SHARE, *PIECE_RANGE))
    longest = target / math.ceil(target / longest)  # pieces that add up to the target
    pieces: dict[int, tuple[int, int]] = {}  # shot -> frames [a, b)
    left = target
    for s in (int(k) for k in np.argsort(-scores, kind="stable")):
        clean = found[s].clean
        length = min(times[clean.stop] - times[clean.start], longest, left)
        if length < shortest:
            continue
        end = clean.start + 1
        while end < clean.stop and times[end] - times[clean.start] < length - 1e-9:
            end += 1
        pieces[s] = (clean.start, end)
        left -= times[end] - times[clean.start]
        if left < shortest:
            break
    for s in sorted(pieces, key=lambda s: -scores[s]):  # the rest lengthens the pieces
        a, b = pieces[s]
        while left > 0 and b < found[s].clean.stop and times[b + 1] - times[b] <= left + 1e-9:
            left -= times[b + 1] - times[b]
            b += 1
        pieces[s] = (a, b)
    spare = [s for s in map(int, np.argsort(-scores, kind="stable")) if s not in pieces]
    fits = [
        s for s in spare if times[found[s].clean.stop] - times[found[s].clean.start] >= shortest
    ]
    if left > 1.0 / fps and fits:  # what is left is under a piece: shorten others to make one
        _make_room(pieces, times, shortest - left, shortest)
        s = fits[0]
        end = found[s].clean.start + 1
        while times[end] - times[found[s].clean.start] < shortest - 1e-9:
            end += 1
        pieces[s] = (found[s].clean.start, end)
    return [(float(times[a]), float(times[b])) for a, b in sorted(pieces.values())]


def _make_room(
    pieces: dict[int, tuple[int, int]], times: np.ndarray, needed: float, shortest: float
) -> None:
    """Take ``needed`` seconds off the ends of ``pieces``, longest first, none below
    ``shortest``."""
    while needed > 1e-9:
        s = max(pieces, key=lambda k: times[pieces[k][1]] - times[pieces[k][0]])
        a, b = pieces[s]
        if times[b - 1] - times[a] < shortest - 1e-9:
            return
        needed -= times[b] - times[b - 1]
        pieces[s] = (a, b - 1)


def storyboard(tiles: list[np.ndarray], labels: list[str], columns: int = 0) -> np.ndarray:
    """``tiles`` (``uint8`` RGB, one size) in a grid with ``labels`` under each: ``columns``
    across (0: about square), white on dark grey."""
    h, w = tiles[0].shape[:2]
    n = len(tiles)
    columns = columns or max(1, round(math.sqrt(n * (h + LABEL_HEIGHT) / w)))
    columns = min(columns, n)
    rows = math.ceil(n / columns)
    pad = 4
    cell_h, cell_w = h + LABEL_HEIGHT + pad, w + pad
    sheet = np.full((rows * cell_h + pad, columns * cell_w + pad, 3), 32, np.uint8)
    for k, (tile, label) in enumerate(zip(tiles, labels, strict=True)):
        y, x = pad + (k // columns) * cell_h, pad + (k % columns) * cell_w
        sheet[y : y + h, x : x + w] = tile
        cv2.putText(
            sheet, label, (x + 4, y + h + LABEL_HEIGHT - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
            (235, 235, 235), 1, cv2.LINE_AA,
        )  # fmt: skip
    return sheet


def timestamp(seconds: float) -> str:
    """``h:mm:ss.s`` (``mm:ss.s`` under an hour)."""
    minutes, rest = divmod(max(0.0, seconds), 60.0)
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours}:{minutes:02d}:{rest:04.1f}" if hours else f"{minutes:02d}:{rest:04.1f}"
