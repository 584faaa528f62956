"""Content-aware layout metrics: how well a layout sits on its canvas and with itself.

The eight metrics of PosterLayout (Hsu et al., "PosterLayout: A New Benchmark and Approach for
Content-aware Visual-Textual Presentation Layout", CVPR 2023). CGL-GAN (Zhou et al., IJCAI
2022) and PDA-GAN had measured overlap, underlay and alignment in their own ways; PosterLayout
fixed these eight and re-ran CGL-GAN with them, and RALF (Horita et al., CVPR 2024)
re-implements and reports them:

===============  ==========================================================  ======
metric           what                                                        better
===============  ==========================================================  ======
validity         share of elements covering >= 0.1 % of the canvas           higher
overlap          IoU of pairs of non-underlay elements, summed, over count   lower
alignment        non-alignment of each element with its best-aligned one     lower
underlay_loose   how much of its best element each underlay lies under       higher
underlay_strict  share of underlays holding a whole element                  higher
utility          share of the non-salient space the elements cover           higher
occlusion        mean saliency under the elements                            lower
unreadability    mean normalised gradient of the background under text       lower
===============  ==========================================================  ======

Each function follows PosterLayout's evaluation code, ``eval.py`` of
github.com/PKU-ICST-MIPL/PosterLayout-CVPR2023 (commit 44ee576), per layout; its dataset
figure is the mean over layouts (validity pools the elements of all layouts, and the two
underlay metrics average only over layouts that have an underlay: :func:`underlay_loose` and
:func:`underlay_strict` return NaN without one, so ``np.nanmean`` reproduces that). Where that
code contradicts its own stated definition this module follows the definition, as RALF's
re-implementation (``image2layout/train/helpers/metric.py`` of
github.com/CyberAgentAILab/RALF) also does; each such place is named in the function.
As there, every metric but validity is taken over the valid elements only (:func:`score`
drops the others first).

Our labels map onto the paper's three classes by :data:`CLASSES`: the copy roles (headline,
subline, call_to_action) are *text*, ``logo`` is *logo*, ``underlay`` and ``button`` (a
call-to-action's plate) are *underlay*. ``product`` and ``decoration`` have no counterpart: the
paper's products are part of the canvas, so the caller composes the product into the
background and saliency it passes, and both are left out of every metric.

Box edges are rounded to the nearest pixel for the pixel metrics (eval.py truncates them).

Published figures (:data:`PUBLISHED`), DS-GAN on the 905 test canvases of PKU PosterLayout as
the authors' eval.py printed them into ``output/results.txt`` of their repository (written by
its ``test_n_eval.sh``; not checked against the paper's table): validity 0.8788, overlap
0.0220, alignment 0.0046, underlay_loose 0.8315, underlay_strict 0.4320, utility 0.2541,
occlusion 0.2088, unreadability 0.1874. Their canvases, saliency maps (the maximum of PFPN's
and BASNet's) and the code's quirks differ from ours, so they give each metric's scale, not a
target on our banners. The paper's CGL-GAN row is not recorded: no readable copy of its table
was at hand to take the figures from.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import cv2
import numpy as np

CLASSES: dict[str, str | None] = {
    "headline": "text",
    "subline": "text",
    "call_to_action": "text",
    "logo": "logo",
    "underlay": "underlay",
    "button": "underlay",
    "product": None,
    "decoration": None,
}
MIN_AREA = 1e-3  # PosterLayout: an element under 0.1 % of the canvas is invalid

# DS-GAN on PKU PosterLayout's test split, as printed by the authors' eval.py into
# output/results.txt of PKU-ICST-MIPL/PosterLayout-CVPR2023 (commit 44ee576), rounded to four
# places. That code's quirks (see alignment, underlay_strict, unreadability) are in them.
PUBLISHED: dict[str, dict[str, float]] = {
    "DS-GAN (Hsu et al. CVPR 2023, PKU PosterLayout test)": {
        "validity": 0.8788,
        "overlap": 0.0220,
        "alignment": 0.0046,
        "underlay_loose": 0.8315,
        "underlay_strict": 0.4320,
        "utility": 0.2541,
        "occlusion": 0.2088,
        "unreadability": 0.1874,
    },
}


class Element(NamedTuple):
    """One laid-out element: a label of :data:`CLASSES` and its box ``(x0, y0, x1, y1)`` in
    canvas pixels (x0 < x1, y0 < y1; it may reach beyond the canvas). Any object with ``label``
    and ``box`` attributes is accepted where an ``Element`` is."""

    label: str
    box: tuple[float, float, float, float]


def _scored(layout: Sequence[Element]) -> list[Element]:
    """The elements with a class in the paper.

    Raises:
        ValueError: a label not in :data:`CLASSES`.
    """
    unknown = sorted({e.label for e in layout} - CLASSES.keys())
    if unknown:
        raise ValueError(f"unknown element labels {unknown}; known: {sorted(CLASSES)}")
    return [e for e in layout if CLASSES[e.label] is not None]


def _classes_and_boxes(layout: Sequence[Element]) -> tuple[np.ndarray, np.ndarray]:
    """The paper's class of each scored element and its ``float64`` (n, 4) box."""
    scored = _scored(layout)
    classes = np.array([CLASSES[e.label] for e in scored], dtype=object)
    boxes = np.array([e.box for e in scored], np.float64).reshape(-1, 4)
    return classes, boxes


def _area(boxes: np.ndarray) -> np.ndarray:
    return np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)


def _intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) intersection areas of two box arrays."""
    w = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    h = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    return np.clip(w, 0, None) * np.clip(h, 0, None)


def _clipped(boxes: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    h, w = shape
    return np.clip(boxes, 0, [w, h, w, h])


def _is_valid(boxes: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    return _area(_clipped(boxes, shape)) >= MIN_AREA * shape[0] * shape[1]


def validity(layout: Sequence[Element], shape: tuple[int, int]) -> float:
    """Share of the scored elements whose box, clipped to the canvas, covers at least
    :data:`MIN_AREA` of it (PosterLayout ``metrics_val``). Higher is better, in [0, 1].

    Args:
        layout: the elements; ``product`` and ``decoration`` are not counted.
        shape: canvas (height, width) in pixels.

    Returns:
        0.0 for a layout with no scored element (nothing in it is valid).
    """
    _, boxes = _classes_and_boxes(layout)
    return float(_is_valid(boxes, shape).mean()) if len(boxes) else 0.0


def valid_elements(layout: Sequence[Element], shape: tuple[int, int]) -> list[Element]:
    """The scored elements :func:`validity` counts as valid, in order (PosterLayout
    ``getRidOfInvalid``); the other metrics are taken on these."""
    scored = _scored(layout)
    _, boxes = _classes_and_boxes(scored)
    return [e for e, keep in zip(scored, _is_valid(boxes, shape), strict=True) if keep]


def overlap(layout: Sequence[Element]) -> float:
    """Sum of the IoU of every unordered pair of non-underlay elements, divided by their
    number (PosterLayout ``metrics_ove``; RALF's version instead averages over the pairs).
    Lower is better; 0 when nothing overlaps, (n - 1) / 2 at most.

    Returns:
        0.0 for fewer than two non-underlay elements.
    """
    classes, boxes = _classes_and_boxes(layout)
    boxes = boxes[classes != "underlay"]
    if len(boxes) < 2:
        return 0.0
    inter = _intersection(boxes, boxes)
    area = _area(boxes)
    union = area[:, None] + area[None, :] - inter
    iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    return float(np.triu(iou, k=1).sum() / len(boxes))


def alignment(layout: Sequence[Element], shape: tuple[int, int]) -> float:
    """Non-alignment: for each element, the smallest distance from any other element in any of
    left, top, centre x, centre y, right, bottom (x as a share of the width, y of the height),
    through ``g(d) = -log10(1 - d)``, summed over the elements (Li et al., Attribute-conditioned
    Layout GAN, TVCG 2020, whose formula PosterLayout ``metrics_ali`` cites; boxes clipped to
    the canvas as in RALF). Lower is better; 0 when every element shares a line with another.

    PosterLayout's code computes the smallest distance over all pairs of the layout once and
    adds it once per element (its loop over elements does not use the element), so its
    figures are at most ours on the same layout.

    Returns:
        0.0 for fewer than two elements (all classes count, underlays too).
    """
    _, boxes = _classes_and_boxes(layout)
    if len(boxes) < 2:
        return 0.0
    h, w = shape
    x0, y0, x1, y1 = (_clipped(boxes, shape) / [w, h, w, h]).T
    lines = np.stack([x0, y0, (x0 + x1) / 2, (y0 + y1) / 2, x1, y1], axis=1)
    distance = np.abs(lines[:, None, :] - lines[None, :, :]).min(axis=2)
    np.fill_diagonal(distance, np.inf)
    return float(np.sum(-np.log10(1 - distance.min(axis=1))))


def _underlay_pairs(layout: Sequence[Element]) -> tuple[np.ndarray, np.ndarray]:
    classes, boxes = _classes_and_boxes(layout)
    return boxes[classes == "underlay"], boxes[classes != "underlay"]


def underlay_loose(layout: Sequence[Element]) -> float:
    """For each underlay, the largest share of a non-underlay element's area it lies under
    (``area(u & e) / area(e)``, best ``e``), averaged over the underlays (PosterLayout
    ``metrics_und_l``). Higher is better, in [0, 1].

    Returns:
        NaN without an underlay (the dataset figure averages only layouts with one);
        an underlay with no other element scores 0.
    """
    underlays, others = _underlay_pairs(layout)
    if not len(underlays):
        return float("nan")
    if not len(others):
        return 0.0
    area = _area(others)
    share = np.divide(
        _intersection(underlays, others),
        area[None, :],
        out=np.zeros((len(underlays), len(others))),
        where=area[None, :] > 0,
    )
    return float(share.max(axis=1).mean())


def underlay_strict(layout: Sequence[Element]) -> float:
    """Share of the underlays that wholly contain at least one non-underlay element
    (PosterLayout ``metrics_und_s``). Higher is better, in [0, 1].

    PosterLayout's containment test compares the second box's right edge with itself, so it
    never checks the right side; this one checks all four (as RALF), so its figures are at
    most the published code's on the same layout.

    Returns:
        NaN without an underlay, as :func:`underlay_loose`.
    """
    underlays, others = _underlay_pairs(layout)
    if not len(underlays):
        return float("nan")
    u, e = underlays[:, None, :], others[None, :, :]
    inside = (u[..., 0] <= e[..., 0]) & (u[..., 1] <= e[..., 1])
    inside &= (u[..., 2] >= e[..., 2]) & (u[..., 3] >= e[..., 3])
    return float(inside.any(axis=1).mean())


def _cover(boxes: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``bool`` mask of the union of ``boxes``, edges rounded to the nearest pixel."""
    mask = np.zeros(shape, bool)
    for x0, y0, x1, y1 in np.rint(_clipped(boxes, shape)).astype(int):
        mask[y0:y1, x0:x1] = True
    return mask


def _check_map(image: np.ndarray, name: str) -> tuple[int, int]:
    if image.ndim < 2:
        raise ValueError(f"{name} must be an image, got shape {image.shape}")
    return image.shape[:2]


def utility(layout: Sequence[Element], saliency: np.ndarray) -> float:
    """Share of the canvas's non-salient mass, ``sum(1 - S)``, that the union of the
    elements covers (PosterLayout ``metrics_uti``). Higher is better, in [0, 1].

    Args:
        saliency: ``float`` H x W in [0, 1], of the canvas with its products (PosterLayout
            takes the pixelwise maximum of two detectors' maps).

    Returns:
        0.0 when the whole canvas is salient.
    """
    _, boxes = _classes_and_boxes(layout)
    free = 1.0 - np.asarray(saliency, np.float64)
    total = free.sum()
    if total <= 0:
        return 0.0
    return float(free[_cover(boxes, _check_map(free, "saliency"))].sum() / total)


def occlusion(layout: Sequence[Element], saliency: np.ndarray) -> float:
    """Mean saliency of the pixels the union of the elements covers (PosterLayout
    ``metrics_occ``). Lower is better, in [0, 1].

    Args:
        saliency: as :func:`utility`.

    Returns:
        0.0 when the elements cover no pixel.
    """
    _, boxes = _classes_and_boxes(layout)
    saliency = np.asarray(saliency, np.float64)
    covered = saliency[_cover(boxes, _check_map(saliency, "saliency"))]
    return float(covered.mean()) if covered.size else 0.0


def gradient_map(rgb: np.ndarray) -> np.ndarray:
    """Non-flatness of a picture: ``sqrt((gx**2 + gy**2) / 2)`` of the 3 x 3 Sobel derivatives
    of its grey levels, divided by its maximum (PosterLayout ``img_to_g_xy``).

    Args:
        rgb: ``uint8`` H x W x 3.

    Returns:
        ``float32`` H x W in [0, 1]; all zero for a flat picture. PosterLayout's code takes
        the derivatives in ``uint8`` (negative ones become 0, squares wrap around 256); these
        are signed floats, as RALF's.
    """
    grey = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY).astype(np.float32)
    gx, gy = cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1)
    magnitude = np.sqrt((gx**2 + gy**2) / 2)
    peak = magnitude.max()
    return magnitude / peak if peak > 0 else magnitude


def unreadability(layout: Sequence[Element], background: np.ndarray) -> float:
    """Mean :func:`gradient_map` of the background over the text boxes not covered by an
    underlay (PosterLayout ``metrics_rea``). Lower is better, in [0, 1].

    Args:
        background: ``uint8`` H x W x 3, the canvas the text is set on (with its products).

    Returns:
        0.0 when no text pixel lies outside the underlays.
    """
    classes, boxes = _classes_and_boxes(layout)
    shape = _check_map(background, "background")
    bare = _cover(boxes[classes == "text"], shape) & ~_cover(boxes[classes == "underlay"], shape)
    if not bare.any():
        return 0.0
    return float(gradient_map(background)[bare].mean())


def score(
    layout: Sequence[Element],
    shape: tuple[int, int],
    saliency: np.ndarray | None = None,
    background: np.ndarray | None = None,
) -> dict[str, float]:
    """Every metric of one layout, keyed as :data:`PUBLISHED`; all but validity on
    :func:`valid_elements`.

    Args:
        layout: the elements.
        shape: canvas (height, width) in pixels.
        saliency: for utility and occlusion (left out when None).
        background: for unreadability (left out when None).

    Raises:
        ValueError: an unknown label, or a saliency map or background of another shape.
    """
    for name, image in (("saliency", saliency), ("background", background)):
        if image is not None and _check_map(image, name) != tuple(shape):
            raise ValueError(f"{name} is {image.shape[:2]}, the canvas {tuple(shape)}")
    valid = valid_elements(layout, shape)
    scores = {
        "validity": validity(layout, shape),
        "overlap": overlap(valid),
        "alignment": alignment(valid, shape),
        "underlay_loose": underlay_loose(valid),
        "underlay_strict": underlay_strict(valid),
    }
    if saliency is not None:
        scores["utility"] = utility(valid, saliency)
        scores["occlusion"] = occlusion(valid, saliency)
    if background is not None:
        scores["unreadability"] = unreadability(valid, background)
    return scores
