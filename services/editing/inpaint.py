"""Hole filling: multi-scale exemplar-based PatchMatch, and OpenCV's Telea for comparison.

All functions take ``uint8`` RGB images ``(H, W, 3)`` and ``bool`` hole masks ``(H, W)``
(``True`` = fill) and return a new ``uint8`` RGB image equal to the input outside the hole.

:func:`fill_patchmatch` is Wexler, Shechtman and Irani's space-time completion (PAMI 2007)
restricted to images, with Barnes et al.'s PatchMatch (SIGGRAPH 2009) as the nearest-neighbour
search: coarse to fine, every hole pixel becomes the similarity-weighted vote of the source
patches (patches lying wholly outside the hole) that best match the patches covering it, and
matching and voting alternate. It continues texture and straight structure where diffusion
(Telea) smears them. The work is confined to a window around the hole (:func:`hole_window`),
so the cost follows the hole, not the picture.
"""

from __future__ import annotations

import cv2
import numba
import numpy as np

PATCH_RADIUS = 3  # 7x7 patches
COARSEST_HOLE = 6  # pixels: the pyramid stops when the hole's thickness is this small
CONFIDENCE_DECAY = 2.0  # per pixel of depth into the hole, see _complete_level
VOTE_PERCENTILE = 100.0  # votes weigh exp(-distance / this percentile of the distances)
PASSES = 2  # PatchMatch propagation + random search passes per EM iteration
COARSE_ITERATIONS, FINE_ITERATIONS = 10, 6  # EM iterations at the coarsest / other scales
SEARCH_MARGIN = 3.0  # the source window reaches this many hole thicknesses around the hole


def fill_telea(image: np.ndarray, hole: np.ndarray, radius: int = 5) -> np.ndarray:
    """OpenCV's fast-marching fill (Telea 2004); ``radius`` in pixels."""
    if not hole.any():
        return image.copy()
    return cv2.inpaint(image, hole.astype(np.uint8), radius, cv2.INPAINT_TELEA)


def hole_thickness(hole: np.ndarray) -> float:
    """Twice the largest distance (pixels) from a hole pixel to the nearest non-hole pixel:
    the width of the hole's thickest part."""
    if not hole.any():
        return 0.0
    inside = cv2.distanceTransform(np.pad(hole, 1).astype(np.uint8), cv2.DIST_L2, 3)
    return 2.0 * float(inside.max())


def hole_window(hole: np.ndarray, margin: float = SEARCH_MARGIN) -> tuple[slice, slice]:
    """Rows and columns of the window searched for one connected group of holes: their
    bounding box grown by ``margin`` thicknesses (at least 32 pixels) and clipped to the
    image."""
    ys, xs = np.nonzero(hole)
    grow = max(32, round(margin * hole_thickness(hole)))
    h, w = hole.shape
    return (
        slice(max(0, ys.min() - grow), min(h, ys.max() + grow + 1)),
        slice(max(0, xs.min() - grow), min(w, xs.max() + grow + 1)),
    )


@numba.njit(cache=True)
def _distance(image, confidence, ty, tx, sy, sx, r, limit):
    """Sum of squared colour differences between the patches centred at (ty, tx) and
    (sy, sx), each target pixel weighted by its ``confidence``; stops early past ``limit``."""
    d = 0.0
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            e = 0.0
            for c in range(3):
                diff = image[ty + dy, tx + dx, c] - image[sy + dy, sx + dx, c]
                e += diff * diff
            d += confidence[ty + dy, tx + dx] * e
        if d > limit:
            return d
    return d


@numba.njit(cache=True)
def _search(image, confidence, targets, source, nnf, cost, r, passes, seed):
    """PatchMatch passes (propagation + random search) for the patches centred at ``targets``;
    ``nnf`` (H, W, 2) holds each target's source centre, ``cost`` its patch distance (negative
    where there is no target)."""
    np.random.seed(seed)
    h, w = source.shape
    n = targets.shape[0]
    for i in range(n):  # the image changed since the field was made: measure again
        ty, tx = targets[i, 0], targets[i, 1]
        cost[ty, tx] = _distance(
            image, confidence, ty, tx, nnf[ty, tx, 0], nnf[ty, tx, 1], r, np.inf
        )
    for p in range(passes):
        step = 1 if p % 2 == 0 else -1
        for k in range(n):
            i = k if step == 1 else n - 1 - k
            ty, tx = targets[i, 0], targets[i, 1]
            best_y, best_x, best = nnf[ty, tx, 0], nnf[ty, tx, 1], cost[ty, tx]
            for ny, nx in ((ty - step, tx), (ty, tx - step)):
                if cost[ny, nx] >= 0:  # a target neighbour: shift its match
                    sy, sx = nnf[ny, nx, 0] + ty - ny, nnf[ny, nx, 1] + tx - nx
                    if 0 <= sy < h and 0 <= sx < w and source[sy, sx]:
                        d = _distance(image, confidence, ty, tx, sy, sx, r, best)
                        if d < best:
                            best_y, best_x, best = sy, sx, d
            radius = max(h, w)
            while radius >= 1:
                sy = best_y + np.random.randint(-radius, radius + 1)
                sx = best_x + np.random.randint(-radius, radius + 1)
                if 0 <= sy < h and 0 <= sx < w and source[sy, sx]:
                    d = _distance(image, confidence, ty, tx, sy, sx, r, best)
                    if d < best:
                        best_y, best_x, best = sy, sx, d
                radius //= 2
            nnf[ty, tx, 0], nnf[ty, tx, 1], cost[ty, tx] = best_y, best_x, best


@numba.njit(cache=True)
def _vote(image, hole, targets, nnf, cost, r, percentile):
    """Every hole pixel becomes the weighted mean of what the matched source patches put
    there; weights fall with the patch distance (relative to its 75th percentile)."""
    h, w = hole.shape
    scale = max(np.percentile(cost[targets[:, 0], targets[:, 1]], percentile), 1e-6)
    total = np.zeros((h, w, 3))
    weight = np.zeros((h, w))
    for i in range(targets.shape[0]):
        ty, tx = targets[i, 0], targets[i, 1]
        sy, sx = nnf[ty, tx, 0], nnf[ty, tx, 1]
        wgt = np.exp(-cost[ty, tx] / scale)
        for dy in range(-r, r + 1):
            for dx in range(-r, r + 1):
                if hole[ty + dy, tx + dx]:
                    weight[ty + dy, tx + dx] += wgt
                    for c in range(3):
                        total[ty + dy, tx + dx, c] += wgt * image[sy + dy, sx + dx, c]
    for y in range(h):
        for x in range(w):
            if hole[y, x] and weight[y, x] > 0:
                for c in range(3):
                    image[y, x, c] = total[y, x, c] / weight[y, x]


def _complete_level(
    image: np.ndarray,
    hole: np.ndarray,
    nnf: np.ndarray | None,
    iterations: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray] | None:
    """EM iterations at one scale on a float32 ``image`` whose hole holds an initial guess.

    Returns (completed image, nearest-neighbour field) or ``None`` when no source patch
    exists at this scale.
    """
    r = PATCH_RADIUS
    padded = cv2.copyMakeBorder(image, r, r, r, r, cv2.BORDER_REFLECT)
    # The padding mirrors the picture, guesses included: mirrored hole pixels are hole too.
    hole_p = cv2.copyMakeBorder(hole.astype(np.uint8), r, r, r, r, cv2.BORDER_REFLECT) > 0
    square = np.ones((2 * r + 1, 2 * r + 1), np.uint8)
    touched = cv2.dilate(hole_p.astype(np.uint8), square).astype(bool)
    source = ~touched
    source[:r], source[-r:], source[:, :r], source[:, -r:] = False, False, False, False
    centres = np.argwhere(source)
    if centres.size == 0:
        return None
    targets = np.argwhere(touched)
    targets = targets[
        (targets[:, 0] >= r)
        & (targets[:, 0] < padded.shape[0] - r)
        & (targets[:, 1] >= r)
        & (targets[:, 1] < padded.shape[1] - r)
    ]
    field = np.empty((*hole_p.shape, 2), np.int64)
    random = centres[rng.integers(0, len(centres), hole_p.size)].reshape(*hole_p.shape, 2)
    if nnf is None:
        field[:] = random
    else:  # the coarser scale's field, doubled, in padded coordinates
        up = np.pad(nnf + r, ((r, r), (r, r), (0, 0)), mode="edge")
        ys = np.clip(up[..., 0], 0, source.shape[0] - 1)
        xs = np.clip(up[..., 1], 0, source.shape[1] - 1)
        ok = source[ys, xs] & (ys == up[..., 0]) & (xs == up[..., 1])
        field[:] = np.where(ok[..., None], up, random)
    cost = np.full(hole_p.shape, -1.0)
    cost[targets[:, 0], targets[:, 1]] = np.inf
    # Guessed pixels count less in the match the deeper they lie in the hole (Wexler et al.).
    depth = cv2.distanceTransform(hole_p.astype(np.uint8), cv2.DIST_L2, 3)
    confidence = np.where(hole_p, CONFIDENCE_DECAY**-depth, 1.0)
    for _ in range(iterations):
        seed = int(rng.integers(0, 2**31))
        _search(padded, confidence, targets, source, field, cost, r, PASSES, seed)
        _vote(padded, hole_p, targets, field, cost, r, VOTE_PERCENTILE)
    return padded[r:-r, r:-r], field[r:-r, r:-r] - r


def _levels(hole: np.ndarray) -> int:
    """Pyramid levels below full resolution so the coarsest hole is ~:data:`COARSEST_HOLE`."""
    thickness = hole_thickness(hole)
    levels = 0
    while thickness > COARSEST_HOLE and min(hole.shape) >> (levels + 1) >= 4 * PATCH_RADIUS:
        thickness /= 2
        levels += 1
    return levels


def _fill_window(image: np.ndarray, hole: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    levels = _levels(hole)
    images = [image.astype(np.float32)]
    holes = [hole]
    for _ in range(levels):
        h, w = holes[-1].shape
        size = ((w + 1) // 2, (h + 1) // 2)
        images.append(cv2.resize(images[-1], size, interpolation=cv2.INTER_AREA))
        holes.append(cv2.resize(holes[-1].astype(np.float32), size, cv2.INTER_AREA) > 0)
    estimate = fill_telea(np.clip(images[-1], 0, 255).astype(np.uint8), holes[-1])
    current = estimate.astype(np.float32)
    nnf = None
    for level in range(levels, -1, -1):
        guess = images[level].copy()
        guess[holes[level]] = current[holes[level]]
        done = _complete_level(
            guess, holes[level], nnf, COARSE_ITERATIONS if level == levels else FINE_ITERATIONS, rng
        )
        if done is None:  # nothing to copy from at this scale: diffuse
            return fill_telea(image, hole)
        current, nnf = done
        if level > 0:
            h, w = holes[level - 1].shape
            current = cv2.resize(current, (w, h), interpolation=cv2.INTER_LINEAR)
            nnf = np.repeat(np.repeat(nnf * 2, 2, axis=0), 2, axis=1)[:h, :w]
    out = image.copy()
    out[hole] = np.clip(current[hole] + 0.5, 0, 255).astype(np.uint8)
    return out


def fill_patchmatch(image: np.ndarray, hole: np.ndarray, seed: int = 0) -> np.ndarray:
    """Fill ``hole`` by multi-scale exemplar-based completion (see the module docstring).

    Each group of nearby holes is completed in its own window (:func:`hole_window`), so a
    few small holes in a large picture cost little. Deterministic for a given ``seed``.

    Args:
        image: ``uint8`` RGB ``(H, W, 3)``.
        hole: ``bool`` ``(H, W)``; ``True`` is filled.
        seed: random seed of the nearest-neighbour search.

    Returns:
        ``uint8`` RGB, equal to ``image`` outside ``hole``. Falls back to :func:`fill_telea`
        where no intact patch is left to copy from.
    """
    out = image.copy()
    if not hole.any():
        return out
    # Holes closer than a patch are completed together.
    near = cv2.dilate(hole.astype(np.uint8), np.ones((4 * PATCH_RADIUS + 1,) * 2, np.uint8))
    count, labels = cv2.connectedComponents(near, connectivity=8)
    for label in range(1, count):
        group = hole & (labels == label)
        rows, cols = hole_window(group)
        out[rows, cols] = _fill_window(out[rows, cols], group[rows, cols], seed + label)
    return out
