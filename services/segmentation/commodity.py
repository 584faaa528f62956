"""Product and salient-object cut-out without a model: background colour model + GrabCut.

The coarse mask is found at a working resolution (longer side :data:`WORK_SIDE`) in CIE Lab:

1. **Background model** (:func:`background_distance`). Pixels of a frame along the image border
   are assumed to be mostly background. Two models of them are fitted: a smooth surface
   (robust quadratic in x and y per channel, for plain, gradient and vignetted studio
   backgrounds) and a few colour clusters (k-means, for textured or multi-coloured
   backgrounds). Every pixel's distance to the nearer model, in units of that model's own
   spread on the border, says how unlike the background it is.
2. **Shadows** (:func:`shadow_mask`). Pixels with the background's chroma, darker than it by a
   bounded ratio and smooth are cast shadows, not product: this is what keeps contact shadows
   out of e-commerce cut-outs.
3. **Seeds** (:func:`coarse_mask`). Hysteresis on the distance (strong seeds grow into weak
   ones), plus closed outlines from edges stronger than the background's own texture (for
   white-on-white and black-on-black products whose colour is the background's), holes filled
   unless they have the background's colour (a mug's handle stays open).
4. **GrabCut** refinement of the seeds with colour mixture models, then connected objects are
   scored (size, contrast, distance from the border) and the best kept.
5. **Cluttered scenes**: when that finds nothing of size, minimum barrier saliency seeds
   GrabCut instead (:mod:`.saliency`).

The caller then mattes the up-scaled mask at full resolution (:mod:`.matting`).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from services.segmentation import saliency

WORK_SIDE = 512  # longer side of the working resolution, pixels
BORDER_FRACTION = 0.03  # width of the background frame, fraction of the shorter side
MIN_OBJECT_FRACTION = 0.005  # smaller finds by the border model mean it failed; see segment_objects


@dataclass
class Segment:
    """One object found: ``mask`` (``bool`` at the working resolution), ``score`` in 0..1."""

    mask: np.ndarray
    score: float


def working_image(rgb: np.ndarray, side: int = WORK_SIDE) -> tuple[np.ndarray, float]:
    """``rgb`` down-scaled (area) so its longer side is at most ``side``; and the scale used."""
    h, w = rgb.shape[:2]
    scale = min(1.0, side / max(h, w))
    if scale == 1.0:
        return rgb[..., :3].copy(), 1.0
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(rgb[..., :3], size, interpolation=cv2.INTER_AREA), scale


def lab(rgb: np.ndarray) -> np.ndarray:
    """``uint8`` RGB -> float32 CIE Lab (L 0..100, a/b about -128..127)."""
    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)


def border_frame(shape: tuple[int, int], fraction: float = BORDER_FRACTION) -> np.ndarray:
    """``bool`` mask of a frame along the image border (at least 2 pixels wide)."""
    h, w = shape
    b = max(2, round(fraction * min(h, w)))
    frame = np.zeros((h, w), bool)
    frame[:b], frame[-b:], frame[:, :b], frame[:, -b:] = True, True, True, True
    return frame


def _design(ys: np.ndarray, xs: np.ndarray, h: int, w: int) -> np.ndarray:
    y, x = ys / max(h - 1, 1) - 0.5, xs / max(w - 1, 1) - 0.5
    return np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=1)


def surface_distance(image_lab: np.ndarray, frame: np.ndarray) -> np.ndarray:
    """Distance (Lab units) of each pixel to a robust quadratic surface fitted to the frame.

    Three rounds of iteratively reweighted least squares (Tukey weights) stop objects that
    touch the border from bending the surface.
    """
    h, w = frame.shape
    ys, xs = np.nonzero(frame)
    design = _design(ys, xs, h, w)
    values = image_lab[ys, xs].astype(np.float64)
    weights = np.ones(len(ys))
    for _ in range(4):
        sw = np.sqrt(weights)[:, None]
        coef, *_ = np.linalg.lstsq(design * sw, values * sw, rcond=None)
        residual = np.linalg.norm(values - design @ coef, axis=1)
        scale = max(4.685 * 1.4826 * np.median(residual), 1e-3)
        weights = np.clip(1 - (residual / scale) ** 2, 0, None) ** 2 + 1e-6
    gy, gx = np.mgrid[0:h, 0:w]
    fitted = (_design(gy.ravel(), gx.ravel(), h, w) @ coef).reshape(h, w, 3)
    return np.linalg.norm(image_lab - fitted, axis=2), fitted


def cluster_distance(image_lab: np.ndarray, frame: np.ndarray, k: int = 6) -> np.ndarray:
    """Distance of each pixel to the nearest of ``k`` colour clusters of the frame, each in
    units of that cluster's own spread (robust), so busy backgrounds count as background."""
    samples = image_lab[frame].astype(np.float32)
    k = max(1, min(k, len(samples) // 20))
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.5)
    cv2.setRNGSeed(0)
    _, labels, centres = cv2.kmeans(samples, k, None, criteria, 2, cv2.KMEANS_PP_CENTERS)
    labels = labels.ravel()
    best = np.full(image_lab.shape[:2], np.inf, np.float32)
    for c in range(k):
        members = samples[labels == c]
        if len(members) < 10:
            continue
        spread = np.linalg.norm(members - centres[c], axis=1)
        sigma = max(float(np.percentile(spread, 90)), 2.0)
        d = np.linalg.norm(image_lab - centres[c], axis=2) / sigma
        best = np.minimum(best, d)
    return best


def background_distance(image_lab: np.ndarray, frame: np.ndarray) -> np.ndarray:
    """How unlike the background each pixel is, in units of the background's spread (>= 0).

    The smaller of the surface-model and cluster-model distances; about 1 on the background
    itself, large on objects.
    """
    surface, _ = surface_distance(image_lab, frame)
    spread = max(float(np.percentile(surface[frame], 90)), 1.5)
    return np.minimum(surface / spread, cluster_distance(image_lab, frame))


def shadow_mask(image_lab: np.ndarray, frame: np.ndarray) -> np.ndarray:
    """Cast-shadow pixels: the background's chroma (within 6 Lab units), 5-55% darker than the
    fitted background lightness, and smooth (local lightness gradient below 4 per pixel)."""
    _, fitted = surface_distance(image_lab, frame)
    chroma = np.linalg.norm(image_lab[..., 1:] - fitted[..., 1:], axis=2)
    ratio = image_lab[..., 0] / np.maximum(fitted[..., 0], 1.0)
    light = image_lab[..., 0]
    gx = cv2.Sobel(light, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    gy = cv2.Sobel(light, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    smooth = cv2.blur(np.hypot(gx, gy), (5, 5)) < 4.0
    return (chroma < 6.0) & (ratio > 0.45) & (ratio < 0.95) & smooth


def _fill_holes(
    mask: np.ndarray, keep_open: np.ndarray, largest_open: float = np.inf
) -> np.ndarray:
    """Fill the holes of ``mask`` except those lying mostly where ``keep_open`` is true and no
    larger than ``largest_open`` pixels."""
    m = mask.astype(np.uint8)
    flood = np.pad(1 - m, 1, constant_values=1)
    cv2.floodFill(flood, None, (0, 0), 0)
    holes = flood[1:-1, 1:-1].astype(bool)
    if not holes.any():
        return mask
    count, labels = cv2.connectedComponents(holes.astype(np.uint8), connectivity=4)
    open_fraction = np.bincount(labels.ravel(), keep_open.ravel(), minlength=count)
    size = np.bincount(labels.ravel(), minlength=count)
    fill = ((open_fraction / np.maximum(size, 1)) < 0.5) | (size > largest_open)
    fill[0] = False
    return mask | fill[labels]


def coarse_mask(rgb: np.ndarray, strong: float = 6.0, weak: float = 2.5) -> np.ndarray:
    """Seed mask of the objects at the working resolution (before GrabCut), ``bool``.

    Args:
        rgb: ``uint8`` RGB at the working resolution.
        strong: background-distance units a pixel needs to seed an object.
        weak: units a pixel needs to join a seeded object.
    """
    image_lab = lab(rgb)
    frame = border_frame(rgb.shape[:2])
    distance = background_distance(image_lab, frame)
    shadow = shadow_mask(image_lab, frame)
    weak_mask = ((distance > weak) & ~shadow).astype(np.uint8)
    strong_mask = (distance > strong) & ~shadow
    count, labels = cv2.connectedComponents(weak_mask, connectivity=8)
    seeded = np.zeros(count, bool)
    seeded[np.unique(labels[strong_mask])] = True
    seeded[0] = False
    mask = seeded[labels]
    # Outlines stronger than the background's texture close objects of the background's colour.
    light = image_lab[..., 0]
    grad = np.hypot(cv2.Sobel(light, cv2.CV_32F, 1, 0), cv2.Sobel(light, cv2.CV_32F, 0, 1))
    noise = float(np.percentile(grad[frame], 95)) + 1.0
    edges = (grad > 3.0 * noise) & ~shadow
    outlines = cv2.morphologyEx(edges.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    # Background-coloured insides of closed outlines are objects only when large (a white
    # product); small ones are openings (a handle) and stay background.
    inside = _fill_holes(outlines.astype(bool), distance < weak, largest_open=0.01 * distance.size)
    mask |= inside & ~outlines.astype(bool)
    mask |= outlines.astype(bool) & cv2.dilate(mask.astype(np.uint8), np.ones((3, 3))).astype(bool)
    mask = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    return _fill_holes(mask.astype(bool), distance < weak)


def grabcut(rgb: np.ndarray, seeds: np.ndarray, iterations: int = 3) -> np.ndarray:
    """GrabCut (OpenCV) from seed mask ``seeds``: eroded seeds are sure foreground, the frame
    sure background, the rest probable. Returns ``bool``; the seeds when GrabCut cannot run
    (no foreground or no background)."""
    h, w = seeds.shape
    if seeds.all() or not seeds.any():
        return seeds
    band = max(2, round(0.015 * min(h, w)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * band + 1, 2 * band + 1))
    seeds8 = seeds.astype(np.uint8)
    init = np.full((h, w), cv2.GC_PR_BGD, np.uint8)
    init[cv2.dilate(seeds8, kernel) == 1] = cv2.GC_PR_BGD
    init[seeds] = cv2.GC_PR_FGD
    init[cv2.erode(seeds8, kernel) == 1] = cv2.GC_FGD
    far = cv2.dilate(seeds8, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (8 * band + 1,) * 2))
    init[(far == 0) | border_frame((h, w), 0.01)] = cv2.GC_BGD
    if not (init == cv2.GC_BGD).any() and not (init == cv2.GC_PR_BGD).any():
        return seeds
    refined = run_grabcut(rgb, init, iterations)
    return seeds if refined is None else refined


def run_grabcut(rgb: np.ndarray, labels: np.ndarray, iterations: int = 3) -> np.ndarray | None:
    """OpenCV GrabCut from initial ``labels`` (``cv2.GC_*``), deterministic; the foreground as
    ``bool``, or ``None`` when GrabCut cannot run (e.g. one of the classes is empty)."""
    labels = labels.copy()
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(0)
    try:
        cv2.grabCut(rgb, labels, None, bgd, fgd, iterations, cv2.GC_INIT_WITH_MASK)
    except cv2.error:
        return None
    return (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)


def objects(mask: np.ndarray, contrast: np.ndarray, min_area: float = 0.002) -> list[Segment]:
    """Connected objects of ``mask`` scored in 0..1, best first.

    The score grows with the object's area (relative to the largest), its contrast with the
    background (median of ``contrast``, a 0..1 map, inside) and its distance from the image
    border.
    """
    h, w = mask.shape
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), 8)
    if count <= 1:
        return []
    areas = stats[1:, cv2.CC_STAT_AREA].astype(np.float64)
    largest = areas.max()
    found = []
    for i in range(1, count):
        area = areas[i - 1]
        if area < min_area * h * w:
            continue
        part = labels == i
        x, y, bw, bh = stats[i, :4]
        touches = (x == 0) + (y == 0) + (x + bw == w) + (y + bh == h)
        score = (
            0.5 * np.sqrt(area / largest)
            + 0.3 * float(np.median(contrast[part]))
            + 0.2 * (1.0 - touches / 4.0)
        )
        found.append(Segment(part, float(score)))
    return sorted(found, key=lambda s: s.score, reverse=True)


def segment_objects(rgb: np.ndarray, refine: bool = True) -> tuple[list[Segment], float]:
    """Objects standing out from the background of a product photo, best first.

    When the border colour model finds no object covering :data:`MIN_OBJECT_FRACTION` of the
    picture (a cluttered or natural scene, an object sharing the border's colours), the objects
    are those the minimum barrier saliency of :mod:`.saliency` separates from the border.

    Args:
        rgb: ``uint8`` RGB, any size (at least 8x8).
        refine: run GrabCut on the seeds.

    Returns:
        (segments with masks at the working resolution, scale of that resolution to ``rgb``).
    """
    small, scale = working_image(rgb)
    seeds = coarse_mask(small)
    mask = grabcut(small, seeds) if refine else seeds
    distance = background_distance(lab(small), border_frame(small.shape[:2]))
    found = objects(mask, np.minimum(1.0, distance / 8.0))
    if any(s.mask.mean() >= MIN_OBJECT_FRACTION for s in found):
        return found, scale
    barrier = saliency.saliency_map(lab(small))
    labels = saliency.grabcut_labels(barrier)
    if labels is None:
        return found, scale
    mask = run_grabcut(small, labels) if refine else None
    mask = labels % 2 == 1 if mask is None else mask  # GC_FGD and GC_PR_FGD are odd
    return objects(mask, np.minimum(1.0, barrier / float(barrier.max()))), scale
