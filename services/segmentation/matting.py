"""Alpha matting: trimaps from coarse masks, closed-form alpha, foreground colours.

All functions take and return numpy arrays:

* images are ``float64`` RGB ``(H, W, 3)`` in 0..1 (:func:`as_float_image` converts ``uint8``);
* trimaps are ``uint8`` ``(H, W)``: 0 background, 128 unknown, 255 foreground;
* alpha mattes are ``float64`` ``(H, W)`` in 0..1.

The alpha solver is Levin, Lischinski and Weiss' closed-form matting (PAMI 2008) with the known
pixels as hard constraints: the matting Laplacian is built only for the 3x3 windows that touch
the unknown region and only the unknown pixels are solved for, with conjugate gradients
preconditioned by smoothed-aggregation algebraic multigrid (pyamg). It minimises the same energy
as the usual formulation (which approximates the constraints with a large weight over the whole
image) at a fraction of the cost, since a trimap's unknown band is usually a small part of the
picture. Very large unknown regions are solved at a reduced scale and brought back to full size
with a guided filter (:func:`estimate_alpha`), which bounds time and memory.
"""

from __future__ import annotations

import cv2
import numpy as np
import pyamg
import scipy.sparse as sp
from scipy.sparse.linalg import cg

BACKGROUND, UNKNOWN, FOREGROUND = 0, 128, 255
MAX_UNKNOWN_PIXELS = 600_000  # solved at full resolution up to this; scaled down beyond


def as_float_image(image: np.ndarray) -> np.ndarray:
    """``uint8`` RGB (or gray) -> ``float64`` RGB in 0..1."""
    a = np.asarray(image)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    return a[..., :3].astype(np.float64) / (255.0 if a.dtype == np.uint8 else 1.0)


def normalize_trimap(trimap: np.ndarray) -> np.ndarray:
    """Round any ``uint8`` trimap to the nearest of 0 / 128 / 255."""
    t = np.asarray(trimap, dtype=np.uint8)
    out = np.full(t.shape, UNKNOWN, np.uint8)
    out[t < 64] = BACKGROUND
    out[t > 191] = FOREGROUND
    return out


def default_band(shape: tuple[int, int]) -> int:
    """Automatic unknown-band width: about 1% of the shorter side, at least 5 pixels."""
    return max(5, round(0.01 * min(shape[:2])))


def trimap_from_mask(mask: np.ndarray, band: int | None = None) -> np.ndarray:
    """A trimap with an unknown band of ``band`` pixels on each side of the edge of ``mask``.

    Args:
        mask: ``(H, W)``; non-zero is foreground.
        band: half-width of the unknown band in pixels, >= 1; ``None`` means
            :func:`default_band`.

    Returns:
        ``uint8`` trimap. An all-foreground or all-background mask gives a trimap with no
        unknown pixels.
    """
    m = (np.asarray(mask) > 0).astype(np.uint8)
    b = default_band(m.shape) if band is None else max(1, int(band))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * b + 1, 2 * b + 1))
    sure_fg = cv2.erode(m, kernel, borderType=cv2.BORDER_REPLICATE)
    maybe = cv2.dilate(m, kernel, borderType=cv2.BORDER_REPLICATE)
    trimap = np.full(m.shape, UNKNOWN, np.uint8)
    trimap[maybe == 0] = BACKGROUND
    trimap[sure_fg == 1] = FOREGROUND
    return trimap


_OFFSETS = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)]  # pixel pairs sharing a window
_WINDOW = [(dy, dx) for dy in range(-1, 2) for dx in range(-1, 2)]


def inverse_3x3(m: np.ndarray) -> np.ndarray:
    """Inverses of a stack of symmetric 3x3 matrices ``(n, 3, 3)`` by the adjugate formula
    (several times faster than ``numpy.linalg.inv`` on small matrices)."""
    a, b, c = m[:, 0, 0], m[:, 0, 1], m[:, 0, 2]
    d, e, f = m[:, 1, 1], m[:, 1, 2], m[:, 2, 2]
    adj = np.empty_like(m)
    adj[:, 0, 0] = d * f - e * e
    adj[:, 0, 1] = adj[:, 1, 0] = c * e - b * f
    adj[:, 0, 2] = adj[:, 2, 0] = b * e - c * d
    adj[:, 1, 1] = a * f - c * c
    adj[:, 1, 2] = adj[:, 2, 1] = b * c - a * e
    adj[:, 2, 2] = a * d - b * b
    det = a * adj[:, 0, 0] + b * adj[:, 0, 1] + c * adj[:, 0, 2]
    return adj / det[:, None, None]


def window_affinities(image: np.ndarray, centres: np.ndarray, eps: float) -> np.ndarray:
    """Levin et al.'s affinities of each 3x3 window centred at ``centres`` (``(n, 2)`` y, x).

    Returns ``(n, 9, 9)``: entry ``[k, a, b]`` is ``(1 + (I_a - mu)^T (S + eps/9)^-1 (I_b - mu))
    / 9`` for the window's pixels ``a`` and ``b`` in row-major order.
    """
    dy, dx = np.array(_WINDOW).T
    colours = image[centres[:, :1] + dy, centres[:, 1:] + dx]  # (n, 9, 3)
    centred = colours - colours.mean(axis=1, keepdims=True)
    covariance = np.matmul(centred.transpose(0, 2, 1), centred) / 9.0 + (eps / 9.0) * np.eye(3)
    projected = np.matmul(centred, inverse_3x3(covariance))
    return (1.0 + np.matmul(projected, centred.transpose(0, 2, 1))) / 9.0


def laplacian_system(
    image: np.ndarray, unknown: np.ndarray, known_alpha: np.ndarray, eps: float = 1e-7
) -> tuple[sp.csr_matrix, np.ndarray]:
    """The closed-form matting system ``A x = b`` over the unknown pixels only.

    ``A`` is the matting Laplacian restricted to the unknown pixels (rows and columns in
    row-major order of ``unknown``); ``b = -L_UK alpha_K`` moves the known pixels' values to the
    right-hand side. Only windows (3x3, centre off the image border) that touch an unknown pixel
    are built, so the cost follows the unknown region, not the image.

    Args:
        image: ``float64`` RGB ``(H, W, 3)`` in 0..1.
        unknown: ``bool`` ``(H, W)``.
        known_alpha: ``(H, W)`` alpha of the known pixels (ignored where unknown).
        eps: regularisation of the windows' colour covariance (Levin et al. use 1e-7).
    """
    h, w = unknown.shape
    grown = cv2.dilate(unknown.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    inner = np.zeros_like(grown)
    inner[1:-1, 1:-1] = grown[1:-1, 1:-1]
    centres = np.argwhere(inner)
    affinity = window_affinities(image, centres, eps)
    # Sum each window's affinities into per-offset planes: plane[o][y, x] is the affinity of
    # pixel (y, x) with pixel (y, x) + offset o; the planes are padded by 2 on each side.
    planes = np.zeros((len(_OFFSETS), h + 4, w + 4))
    count = np.zeros((h + 4, w + 4))
    cy, cx = centres[:, 0] + 2, centres[:, 1] + 2
    for a, (ay, ax) in enumerate(_WINDOW):
        count[cy + ay, cx + ax] += 1.0
        for b, (by, bx) in enumerate(_WINDOW):
            o = (by - ay + 2) * 5 + (bx - ax + 2)
            planes[o, cy + ay, cx + ax] += affinity[:, a, b]
    uy, ux = np.nonzero(unknown)
    index = np.full((h + 4, w + 4), -1, np.int64)
    index[uy + 2, ux + 2] = np.arange(uy.size)
    alpha = np.zeros((h + 4, w + 4))
    alpha[2:-2, 2:-2] = np.where(unknown, 0.0, known_alpha)
    rows, cols, vals = [], [], []
    rhs = np.zeros(uy.size)
    diagonal = count[uy + 2, ux + 2]
    for o, (oy, ox) in enumerate(_OFFSETS):
        weight = planes[o, uy + 2, ux + 2]
        ny, nx = uy + 2 + oy, ux + 2 + ox
        col = index[ny, nx]
        inside = col >= 0
        rows.append(np.flatnonzero(inside))
        cols.append(col[inside])
        vals.append(-weight[inside])
        rhs += weight * np.where(inside, 0.0, alpha[ny, nx])
    matrix = sp.coo_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(uy.size, uy.size),
    ).tocsr()
    return matrix + sp.diags(diagonal), rhs


def closed_form_alpha(
    image: np.ndarray,
    trimap: np.ndarray,
    eps: float = 1e-7,
    tol: float = 1e-5,
    max_iter: int = 2000,
    initial: np.ndarray | None = None,
) -> np.ndarray:
    """Closed-form matting of the unknown region of ``trimap`` with hard known pixels.

    Args:
        image: ``float64`` RGB ``(H, W, 3)`` in 0..1.
        trimap: ``uint8`` trimap (any values; rounded by :func:`normalize_trimap`).
        eps: covariance regularisation of the local colour-line model.
        tol: relative residual at which conjugate gradients stop.
        max_iter: conjugate-gradient iteration cap.
        initial: starting guess for alpha (e.g. an up-scaled coarse solution); ``None`` starts
            from 0.5 everywhere unknown.

    Returns:
        alpha ``(H, W)`` in 0..1; known pixels are exactly 0 or 1. Unknown pixels with no path to
        a known pixel settle near 0.5 (a tiny pull towards 0.5 keeps the system well posed).
    """
    t = normalize_trimap(trimap)
    alpha = (t == FOREGROUND).astype(np.float64)
    unknown = t == UNKNOWN
    if not unknown.any():
        return alpha
    matrix, rhs = laplacian_system(image, unknown, alpha, eps)
    matrix = matrix + sp.diags(np.full(rhs.size, 1e-9))
    rhs = rhs + 1e-9 * 0.5
    x0 = np.full(rhs.size, 0.5) if initial is None else np.asarray(initial)[unknown]
    preconditioner = pyamg.smoothed_aggregation_solver(matrix).aspreconditioner()
    solution, _ = cg(matrix, rhs, x0=x0, rtol=tol, maxiter=max_iter, M=preconditioner)
    alpha[unknown] = np.clip(solution, 0.0, 1.0)
    return alpha


def guided_filter(
    guide: np.ndarray, source: np.ndarray, radius: int, eps: float = 1e-4
) -> np.ndarray:
    """Colour guided filter (He et al., PAMI 2013) of the 2-D ``source`` by RGB ``guide``.

    ``radius`` is the box radius in pixels; ``eps`` the regularisation (in guide units squared).
    Used to bring a coarse alpha back to full resolution along the image's own edges.
    """
    size = (2 * radius + 1, 2 * radius + 1)

    def box(x: np.ndarray) -> np.ndarray:
        return cv2.blur(x, size, borderType=cv2.BORDER_REFLECT)

    mean_i = box(guide)
    mean_p = box(source)
    cov_ip = box(guide * source[..., None]) - mean_i * mean_p[..., None]
    var = np.empty((*guide.shape[:2], 3, 3))
    for a in range(3):
        for b in range(a, 3):
            v = box(guide[..., a] * guide[..., b]) - mean_i[..., a] * mean_i[..., b]
            var[..., a, b] = var[..., b, a] = v
    var += eps * np.eye(3)
    coef = np.linalg.solve(var, cov_ip[..., None])[..., 0]
    offset = mean_p - np.einsum("hwc,hwc->hw", coef, mean_i)
    return np.einsum("hwc,hwc->hw", box(coef), guide) + box(offset)


def estimate_alpha(
    image: np.ndarray, trimap: np.ndarray, max_unknown: int = MAX_UNKNOWN_PIXELS
) -> np.ndarray:
    """Alpha matte of ``image`` for ``trimap``: closed-form, with bounded cost.

    Up to ``max_unknown`` unknown pixels are solved at full resolution. Beyond that the problem
    is solved at the scale that brings it under the bound, up-scaled and sharpened along the
    image edges by a guided filter; that answer is final where it is sure (alpha within 0.005
    of 0 or 1, 2 pixels away from any unsure pixel) and the starting point of a full-resolution
    solve of the rest, unless the rest is still larger than twice the bound.

    Args:
        image: ``float64`` RGB in 0..1 or ``uint8`` RGB, ``(H, W, 3)``.
        trimap: ``uint8`` ``(H, W)``, same size.

    Returns:
        alpha ``(H, W)`` ``float64`` in 0..1.

    Raises:
        ValueError: if the sizes differ.
    """
    img = as_float_image(image) if np.asarray(image).dtype == np.uint8 else image
    t = normalize_trimap(trimap)
    if img.shape[:2] != t.shape:
        raise ValueError(f"trimap is {t.shape[::-1]} (w, h), image {img.shape[1::-1]}")
    unknown = int((t == UNKNOWN).sum())
    if unknown <= max_unknown:
        return closed_form_alpha(img, t)
    scale = float(np.sqrt(max_unknown / unknown))
    h, w = t.shape
    size = (max(2, round(w * scale)), max(2, round(h * scale)))
    small = closed_form_alpha(
        cv2.resize(img, size, interpolation=cv2.INTER_AREA),
        cv2.resize(t, size, interpolation=cv2.INTER_NEAREST),
    )
    coarse = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    coarse = np.clip(guided_filter(img, coarse, radius=max(2, round(2 / scale))), 0, 1)
    coarse[t == FOREGROUND], coarse[t == BACKGROUND] = 1.0, 0.0
    uncertain = (coarse > 0.005) & (coarse < 0.995)
    uncertain = cv2.dilate(uncertain.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    refine = t.copy()
    refine[(t == UNKNOWN) & ~uncertain & (coarse < 0.5)] = BACKGROUND
    refine[(t == UNKNOWN) & ~uncertain & (coarse >= 0.5)] = FOREGROUND
    if int((refine == UNKNOWN).sum()) > 2 * max_unknown:
        return coarse
    return closed_form_alpha(img, refine, initial=coarse)


def _blur_fusion(
    image: np.ndarray,
    alpha: np.ndarray,
    fg: np.ndarray,
    bg: np.ndarray,
    radius: int,
) -> tuple[np.ndarray, np.ndarray]:
    """One blur-fusion step: local means of F and B, then the per-pixel compositing fix."""
    size = (2 * radius + 1, 2 * radius + 1)
    a = alpha[..., None]
    blurred_a = cv2.blur(alpha, size)[..., None]
    mean_f = cv2.blur(fg * a, size) / (blurred_a + 1e-5)
    mean_b = cv2.blur(bg * (1 - a), size) / (1 - blurred_a + 1e-5)
    f = mean_f + a * (image - a * mean_f - (1 - a) * mean_b)
    return np.clip(f, 0, 1), mean_b


def estimate_foreground(image: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Foreground colours freed of background spill, by blur fusion (Forte and Pitié, 2021).

    Two passes (box radius 90 then 6 pixels) of local foreground / background means corrected so
    that ``alpha * F + (1 - alpha) * B`` reproduces the image. Linear in the number of pixels.

    Args:
        image: ``float64`` RGB ``(H, W, 3)`` in 0..1.
        alpha: ``(H, W)`` in 0..1.

    Returns:
        ``float64`` RGB foreground in 0..1 (meaningless where alpha is 0).
    """
    f, b = _blur_fusion(image, alpha, image, image, 90)
    f, _ = _blur_fusion(image, alpha, f, b, 6)
    return f
