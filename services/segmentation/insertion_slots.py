"""Planar surfaces where a picture can be inserted, found with classical geometry.

The frame is cut into regions by its edges (Canny). Two kinds of candidate come out:

* **framed surfaces** (posters, screens, boards, box faces): the outline of a connected edge
  group, or of an edge-free region, is reduced to a quadrilateral by extending its edges over
  the corners an occluder may hide; it is kept when the outline fills the quadrilateral and
  strong edges run along its sides;
* **open surfaces** (walls, floors, table tops): large edge-free regions touching the frame's
  border; the slot is the largest upright rectangle free of objects inside them.

Each quadrilateral gets a kind from its interior (dark and flat: screen; bright and grey:
board; textured: poster), the width/height of the real rectangle under a pinhole camera whose
principal point is the frame centre (Zhang & He, "Whiteboard scanning and image enhancement",
2007), and, for flat surfaces, the part hidden by things in front of it (pixels far from the
surface's colours). All geometry is done at most 640 pixels on the longer side and scaled back.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import cv2
import numpy as np

WORK_SIDE = 640
PRIOR_FOCAL = 1.0  # focal length / longer frame side when no surface tells (about 50 mm equiv.)
KINDS = ("wall", "screen", "board", "poster", "tabletop", "other")


@dataclass
class Slot:
    """One surface: ``corners`` 4 x 2 float32 pixels clockwise from the top-left, ``kind`` one of
    :data:`KINDS`, ``score`` in [0, 1], ``aspect_ratio`` width / height of the real rectangle,
    ``visible`` the ``bool`` frame-sized mask of its unhidden part."""

    corners: np.ndarray
    kind: str
    score: float
    aspect_ratio: float
    visible: np.ndarray

    @property
    def area(self) -> float:
        return float(cv2.contourArea(self.corners))

    @property
    def occluded_fraction(self) -> float:
        inside = quad_mask(self.corners, self.visible.shape)
        return float(1 - (self.visible & inside).sum() / max(1, inside.sum()))


def quad_mask(corners: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``bool`` mask of a polygon (N x 2 pixels) filled."""
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.round(corners * 16).astype(np.int32)], 1, shift=4)
    return mask.astype(bool)


def clockwise(corners: np.ndarray) -> np.ndarray:
    """Four corners ordered clockwise (in image coordinates) from the top-left one."""
    centre = corners.mean(axis=0)
    angles = np.arctan2(corners[:, 1] - centre[1], corners[:, 0] - centre[0])
    ring = corners[np.argsort(angles)]  # clockwise on screen, as y points down
    start = int(np.argmin(ring.sum(axis=1)))
    return np.roll(ring, -start, axis=0).astype(np.float32)


def fit_quad(contour: np.ndarray, max_vertices: int = 10) -> np.ndarray | None:
    """The quadrilateral whose four sides are best supported by an outline.

    The outline's convex hull is simplified to a few edges; an edge counts as supported by the
    outline points lying on it (within 2 pixels). Edges that bridge a dent in the outline
    (e.g. around an occluder) have little support and cannot be sides. Among the cyclic choices
    of four supported edges, the one with the most supporting points wins, and each side is a
    line fitted to its points, so corners hidden by an occluder are restored where the visible
    sides meet.

    Args:
        contour: N x 2 outline points, dense (as ``cv2.CHAIN_APPROX_NONE`` gives them).

    Returns:
        4 x 2 float32 corners clockwise from the top-left, or None when no four supported sides
        form a convex quadrilateral.
    """
    points = contour.reshape(-1, 2).astype(np.float32)
    hull = cv2.convexHull(points)
    epsilon = 0.01 * cv2.arcLength(hull, True)
    vertices = cv2.approxPolyDP(hull, epsilon, True).reshape(-1, 2)
    while len(vertices) > max_vertices:
        epsilon *= 1.5
        vertices = cv2.approxPolyDP(hull, epsilon, True).reshape(-1, 2)
    sides = []
    for a, b in zip(vertices, np.roll(vertices, -1, axis=0), strict=True):
        on = _points_on_segment(points, a, b)
        if len(on) >= 0.5 * np.linalg.norm(b - a) and len(on) >= 4:
            sides.append(on)
    best, best_support = None, 0
    for chosen in itertools.combinations(range(len(sides)), 4):
        lines = [cv2.fitLine(sides[i], cv2.DIST_HUBER, 0, 0.01, 0.01).ravel() for i in chosen]
        corners = [_meet(lines[i - 1], lines[i]) for i in range(4)]
        if any(c is None for c in corners):
            continue
        quad = clockwise(np.array(corners, np.float32))
        support = sum(len(sides[i]) for i in chosen)
        if support > best_support and cv2.isContourConvex(quad.reshape(-1, 1, 2)):
            best, best_support = quad, support
    return best


def refine_quad(corners: np.ndarray, edges: np.ndarray, reach: float = 3.0) -> np.ndarray:
    """Refit each side of a quadrilateral to the edge pixels along it.

    Outlines come from dilated edges or region borders, a pixel or two off the true edge and
    sometimes bent near corners; the Canny pixels within `reach` pixels of the middle 80 % of a
    side are a sharper witness. Sides with too few such pixels are kept as they are.
    """
    points = np.column_stack(np.nonzero(edges)[::-1]).astype(np.float32)
    lines = []
    for i in range(4):
        a, b = corners[i], corners[(i + 1) % 4]
        near = _points_on_segment(points, a + 0.1 * (b - a), a + 0.9 * (b - a), reach)
        if len(near) >= 0.5 * 0.8 * np.linalg.norm(b - a):
            lines.append(cv2.fitLine(near, cv2.DIST_HUBER, 0, 0.01, 0.01).ravel())
        else:
            direction = (b - a) / max(1e-6, float(np.linalg.norm(b - a)))
            lines.append(np.array([*direction, *a], np.float32))
    refined = [_meet(lines[i - 1], lines[i]) for i in range(4)]
    if any(c is None for c in refined):
        return corners
    quad = np.array(refined, np.float32)
    moved = np.abs(quad - corners).max()
    return corners if moved > 4 * reach else clockwise(quad)


def _points_on_segment(
    points: np.ndarray, a: np.ndarray, b: np.ndarray, reach: float = 2.0
) -> np.ndarray:
    """Points within `reach` pixels of segment a-b (projection inside it)."""
    direction = (b - a).astype(np.float32)
    length = float(np.linalg.norm(direction))
    if length < 1:
        return points[:0]
    direction /= length
    rel = points - a
    along = rel @ direction
    across = np.abs(rel[:, 0] * direction[1] - rel[:, 1] * direction[0])
    return points[(across <= reach) & (along >= -1) & (along <= length + 1)]


def _meet(first: np.ndarray, second: np.ndarray) -> np.ndarray | None:
    """Intersection of two (vx, vy, x0, y0) lines, or None when nearly parallel."""
    v1, p1, v2, p2 = first[:2], first[2:], second[:2], second[2:]
    denom = float(v1[0] * v2[1] - v1[1] * v2[0])
    if abs(denom) < 0.2:  # under ~12 degrees apart: not two sides of one quadrilateral
        return None
    d = p2 - p1
    t = float(d[0] * v2[1] - d[1] * v2[0]) / denom
    return p1 + t * v1


def interior_angles_ok(corners: np.ndarray, low: float = 35.0, high: float = 145.0) -> bool:
    """Whether every interior angle of a convex quadrilateral lies in [low, high] degrees."""
    for i in range(4):
        u = corners[i - 1] - corners[i]
        v = corners[(i + 1) % 4] - corners[i]
        cos = np.dot(u, v) / max(1e-9, np.linalg.norm(u) * np.linalg.norm(v))
        if not low <= np.degrees(np.arccos(np.clip(cos, -1, 1))) <= high:
            return False
    return cv2.isContourConvex(corners.astype(np.float32).reshape(-1, 1, 2))


def _vanishing_normals(corners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Zhang & He's n2, n3 for corners tl, tr, br, bl (homogeneous pixel coordinates)."""
    tl, tr, br, bl = (np.array([x, y, 1.0]) for x, y in corners)
    k2 = np.dot(np.cross(tl, br), bl) / np.dot(np.cross(tr, br), bl)
    k3 = np.dot(np.cross(tl, br), tr) / np.dot(np.cross(bl, br), tr)
    return k2 * tr - tl, k3 * bl - tl


def focal_length(corners: np.ndarray, shape: tuple[int, int]) -> float | None:
    """Focal length in pixels implied by a quadrilateral that images a rectangle, with the
    principal point at the frame centre (Zhang & He 2007); None when the sides are too close
    to parallel to tell or the result is not a real length."""
    h, w = shape
    u0, v0 = w / 2, h / 2
    n2, n3 = _vanishing_normals(corners)
    if abs(n2[2] * n3[2]) < 1e-6:
        return None
    f2 = -(
        (n2[0] * n3[0] - (n2[0] * n3[2] + n2[2] * n3[0]) * u0 + n2[2] * n3[2] * u0 * u0)
        + (n2[1] * n3[1] - (n2[1] * n3[2] + n2[2] * n3[1]) * v0 + n2[2] * n3[2] * v0 * v0)
    ) / (n2[2] * n3[2])
    return float(np.sqrt(f2)) if np.isfinite(f2) and f2 > 0 else None


def aspect_ratio(corners: np.ndarray, shape: tuple[int, int], focal: float) -> float:
    """Width / height of the real rectangle a quadrilateral shows, seen by a camera of focal
    length `focal` pixels with the principal point at the frame centre and square pixels.

    Exact for exact corners and focal length; a focal length off by 20 % moves the ratio by a
    few percent only, while a focal length fitted to a single noisy quadrilateral can be far
    off, which is why :func:`find_slots` shares one estimate across the frame.
    """
    h, w = shape
    n2, n3 = _vanishing_normals(corners)
    inverse = np.linalg.inv(np.array([[focal, 0, w / 2], [0, focal, h / 2], [0, 0, 1]]))
    a, b = inverse @ n2, inverse @ n3
    return float(np.sqrt(np.dot(a, a) / np.dot(b, b)))


def edge_support(corners: np.ndarray, strong: np.ndarray, samples: int = 48) -> float:
    """Fraction of points along the sides lying on strong edges (`strong`: ``bool`` map, already
    widened by a few pixels); sides along the frame border count half."""
    h, w = strong.shape
    total = 0.0
    for i in range(4):
        a, b = corners[i], corners[(i + 1) % 4]
        t = np.linspace(0.05, 0.95, samples)[:, None]
        points = a + t * (b - a)
        x = np.clip(np.round(points[:, 0]).astype(int), 0, w - 1)
        y = np.clip(np.round(points[:, 1]).astype(int), 0, h - 1)
        on_border = (np.minimum(x, w - 1 - x) <= 2) | (np.minimum(y, h - 1 - y) <= 2)
        total += float(np.where(on_border, 0.5, strong[y, x]).mean())
    return total / 4


def largest_rectangle(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """Largest upright rectangle of True pixels, as (x, y, width, height), or None if empty.

    The classic maximal-rectangle-in-a-histogram scan, one pass over the rows.
    """
    h, w = mask.shape
    heights = np.zeros(w + 1, np.int64)
    best, best_area = None, 0
    for y in range(h):
        heights[:w] = np.where(mask[y], heights[:w] + 1, 0)
        stack: list[int] = []
        for x in range(w + 1):
            while stack and heights[stack[-1]] >= heights[x]:
                top = stack.pop()
                left = stack[-1] + 1 if stack else 0
                area = int(heights[top]) * (x - left)
                if area > best_area:
                    best_area = area
                    best = (left, y - int(heights[top]) + 1, x - left, int(heights[top]))
            stack.append(x)
    return best


@dataclass
class _Analysis:
    """What every candidate needs about the working frame."""

    lab: np.ndarray
    edges: np.ndarray
    strong: np.ndarray
    gradient: np.ndarray


def _analyse(work: np.ndarray) -> _Analysis:
    lab = cv2.cvtColor(work, cv2.COLOR_RGB2LAB).astype(np.float32)
    smooth = cv2.GaussianBlur(lab, (0, 0), 1.0)
    gx = np.abs(cv2.Sobel(smooth, cv2.CV_32F, 1, 0, ksize=3)).max(axis=2)
    gy = np.abs(cv2.Sobel(smooth, cv2.CV_32F, 0, 1, ksize=3)).max(axis=2)
    gradient = np.hypot(gx, gy)
    grey = cv2.GaussianBlur(cv2.cvtColor(work, cv2.COLOR_RGB2GRAY), (0, 0), 1.0)
    edges = cv2.Canny(grey, 20, 60) > 0
    strong = cv2.dilate((gradient > 40).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    return _Analysis(lab, edges, strong, gradient)


def _interior_kind(lab: np.ndarray, inside: np.ndarray) -> tuple[str, bool]:
    """(kind, flat) of a framed quadrilateral's interior.

    Flat means at least 75 % of the pixels lie within 12 Lab units of the median colour (a
    whiteboard with writing, a switched-off screen); flat and dark is a screen, flat, light and
    grey a board; not flat is a poster (a picture).
    """
    pixels = lab[inside] * np.array([100 / 255, 1, 1], np.float32)
    median = np.median(pixels, axis=0)
    flat = float((np.linalg.norm(pixels - median, axis=1) < 12).mean()) >= 0.75
    chroma = float(np.hypot(median[1] - 128, median[2] - 128))
    if flat and median[0] < 30:
        return "screen", True
    if flat and median[0] > 72 and chroma < 14:
        return "board", True
    return ("other", True) if flat else ("poster", False)


def _visible(lab: np.ndarray, quad: np.ndarray, core: np.ndarray, min_side: float) -> np.ndarray:
    """Unhidden part of a flat surface: inside its frame (8 % of the shorter side), pixels far
    from the surface's median colour in blobs wider than 6 % of that side are hidden; thin
    marks such as writing are not."""
    pixels = lab[core]
    surface = np.median(pixels, axis=0)
    spread = max(8.0, 3 * float(np.median(np.abs(pixels - surface).sum(axis=1))))
    frame = max(3, int(0.08 * min_side)) | 1  # frames and bezels: a few % of the side
    inner = cv2.erode(quad.astype(np.uint8), np.ones((frame, frame), np.uint8)).astype(bool)
    far = (np.abs(lab - surface).sum(axis=2) > spread) & inner
    size = max(3, int(0.06 * min_side)) | 1
    hidden = cv2.morphologyEx(
        far.astype(np.uint8), cv2.MORPH_OPEN, np.ones((size, size), np.uint8)
    ).astype(bool)
    return quad & ~hidden


def _framed(
    analysis: _Analysis, outline: np.ndarray, min_area: float, region: np.ndarray | None
) -> Slot | None:
    """A framed-surface slot from an outline (contour points), or None."""
    shape = analysis.edges.shape
    corners = fit_quad(outline)
    if corners is None:
        return None
    corners = refine_quad(corners, analysis.edges)
    if not interior_angles_ok(corners):
        return None
    area = cv2.contourArea(corners)
    if area < min_area or min(np.linalg.norm(corners - np.roll(corners, 1, 0), axis=1)) < 12:
        return None
    side = float(min(np.linalg.norm(corners - np.roll(corners, 1, 0), axis=1)))
    quad = quad_mask(corners, shape)
    filled = region if region is not None else quad_mask(outline.reshape(-1, 2), shape)
    fill = float((filled & quad).sum() / quad.sum())
    support = edge_support(corners, analysis.strong)
    if fill < 0.6 or support < 0.4:
        return None
    inset = max(9, int(0.12 * side)) | 1
    core = cv2.erode(quad.astype(np.uint8), np.ones((inset, inset), np.uint8)).astype(bool)
    if region is not None:
        core &= region
    if core.sum() < 20:
        return None
    kind, flat = _interior_kind(analysis.lab, core)
    visible = _visible(analysis.lab, quad, core, side) if flat else quad
    occluded = 1 - visible.sum() / quad.sum()
    score = float(np.clip(support * min(1.0, (fill - 0.5) / 0.4) * (1 - 0.5 * occluded), 0, 1))
    return Slot(corners, kind, score, 0.0, visible)


def _open(analysis: _Analysis, region: np.ndarray, min_area: float) -> Slot | None:
    """A wall or floor slot: the largest object-free upright rectangle of a large region."""
    h, w = region.shape
    ys, xs = np.nonzero(region)
    if ys.size < min_area:
        return None
    touches = {ys.min() == 0, ys.max() == h - 1, xs.min() == 0, xs.max() == w - 1}
    if True not in touches:
        return None
    clean = cv2.morphologyEx(region.astype(np.uint8), cv2.MORPH_OPEN, np.ones((7, 7), np.uint8))
    small = cv2.resize(clean, (w // 2, h // 2), interpolation=cv2.INTER_NEAREST).astype(bool)
    box = largest_rectangle(small)
    if box is None or 4 * box[2] * box[3] < min_area:
        return None
    x, y, bw, bh = (2 * v for v in box)
    corners = np.array([[x, y], [x + bw, y], [x + bw, y + bh], [x, y + bh]], np.float32)
    textured = float((analysis.gradient[y : y + bh, x : x + bw] > 25).mean())
    kind = "tabletop" if ys.mean() > 0.6 * h and ys.max() == h - 1 else "wall"
    score = float(np.clip((1 - textured / 0.1) * min(1.0, bw * bh / (0.08 * h * w)), 0, 1))
    visible = quad_mask(corners, (h, w))
    return Slot(corners, kind, score, bw / bh, visible)


def _iou(a: Slot, b: Slot) -> float:
    inter, _ = cv2.intersectConvexConvex(a.corners, b.corners)
    return float(inter / max(1e-9, a.area + b.area - inter))


def find_slots(rgb: np.ndarray, min_area_fraction: float = 0.01) -> list[Slot]:
    """Insertion slots of an RGB frame, best first (score, then area).

    Args:
        rgb: ``uint8`` H x W x 3 frame.
        min_area_fraction: slots covering less of the frame, in [0, 1], are not returned.

    Returns:
        Slots in frame pixels; near-duplicates (quadrilateral IoU >= 0.7) are merged into the
        larger one.
    """
    h, w = rgb.shape[:2]
    scale = min(1.0, WORK_SIDE / max(h, w))
    work = cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    analysis = _analyse(work)
    shape = analysis.edges.shape
    min_area = max(64.0, min_area_fraction * shape[0] * shape[1])
    closed = cv2.dilate(analysis.edges.astype(np.uint8), np.ones((3, 3), np.uint8))
    candidates: list[Slot] = []
    groups, _ = cv2.findContours(closed, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    for contour in groups:
        if cv2.contourArea(cv2.convexHull(contour)) >= min_area:
            slot = _framed(analysis, contour, min_area, None)
            if slot:
                candidates.append(slot)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(1 - closed, connectivity=4)
    for label in range(1, count):
        if stats[label, cv2.CC_STAT_AREA] < min_area:
            continue
        region = labels == label
        region = cv2.dilate(region.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        contours, _ = cv2.findContours(
            region.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE
        )
        outline = max(contours, key=cv2.contourArea)
        slot = _open(analysis, region, min_area) or _framed(analysis, outline, min_area, region)
        if slot:
            candidates.append(slot)
    kept: list[Slot] = []
    for slot in sorted(candidates, key=lambda s: -s.area):
        twin = next((k for k in kept if _iou(k, slot) >= 0.7), None)
        if twin is None:
            kept.append(slot)
        elif slot.score > twin.score:
            twin.score = slot.score
    fits = [focal_length(s.corners, shape) for s in kept if s.kind not in ("wall", "tabletop")]
    fits = [f for f in fits if f and 0.6 <= f / max(shape) <= 3.0]
    focal = float(np.median(fits)) if fits else PRIOR_FOCAL * max(shape)
    out = []
    for slot in kept:
        if slot.kind not in ("wall", "tabletop"):
            slot.aspect_ratio = aspect_ratio(slot.corners, shape, focal)
        visible = cv2.resize(slot.visible.astype(np.uint8), (w, h), cv2.INTER_NEAREST)
        corners = (slot.corners / scale).astype(np.float32)
        out.append(Slot(corners, slot.kind, slot.score, slot.aspect_ratio, visible.astype(bool)))
    return sorted(out, key=lambda s: (-s.score, -s.area))
