"""Alpha matting: trimaps from coarse masks, closed-form alpha, foreground colours.

All functions take and return numpy arrays:

* images are ``float64`` RGB ``(H, W, 3)`` in 0..1 (:func:`as_float_image` converts ``uint8``);
* trimaps are ``uint8`` ``(H, W)``: 0 background, 128 unknown, 255 foreground;
* alpha mattes are ``float64`` ``(H, W)`` in 0..1.

The alpha solver is Levin, Lischinski and Weiss' closed-form matting (PAMI 2008) with the known
pixels as hard constraints: the matting Laplacian is built (compiled with numba) only for the
3x3 windows that touch the unknown region and only the unknown pixels are solved for, by a sparse
direct factorisation (:func:`solve_spd`). It minimises the same energy as the usual formulation
(which approximates the constraints with a large weight over the whole image and solves
iteratively) at a fraction of the cost, since a trimap's unknown band is usually a small part of
the picture. Very large unknown regions are solved at a reduced scale and brought back to full size
with a guided filter (:func:`estimate_alpha`), which bounds time and memory.
"""

from __future__ import annotations

import cv2
import numba
import numpy as np
import pyamg
import scipy.sparse as sp
from scipy.sparse.linalg import cg, splu

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


DIRECT_MAX_UNKNOWN = 200_000  # factorised directly up to this; AMG-CG (linear memory) beyond
SOLVERS = ("auto", "cholmod", "superlu", "cg")


@numba.njit(cache=True)
def _inverse_3x3(m: np.ndarray, out: np.ndarray) -> None:
    """Inverse of the symmetric positive definite 3x3 ``m`` into ``out``, by the adjugate."""
    out[0, 0] = m[1, 1] * m[2, 2] - m[1, 2] * m[1, 2]
    out[0, 1] = out[1, 0] = m[0, 2] * m[1, 2] - m[0, 1] * m[2, 2]
    out[0, 2] = out[2, 0] = m[0, 1] * m[1, 2] - m[0, 2] * m[1, 1]
    out[1, 1] = m[0, 0] * m[2, 2] - m[0, 2] * m[0, 2]
    out[1, 2] = out[2, 1] = m[0, 2] * m[0, 1] - m[0, 0] * m[1, 2]
    out[2, 2] = m[0, 0] * m[1, 1] - m[0, 1] * m[0, 1]
    det = m[0, 0] * out[0, 0] + m[0, 1] * out[0, 1] + m[0, 2] * out[0, 2]
    for a in range(3):
        for b in range(3):
            out[a, b] /= det


@numba.njit(cache=True)
def _assemble(
    image: np.ndarray, index: np.ndarray, alpha: np.ndarray, eps: float
) -> tuple[np.ndarray, np.ndarray]:
    """Matting Laplacian rows of the unknown pixels, as ``(n, 25)`` couplings and a right side.

    ``vals[i, o]`` couples unknown pixel ``i`` with the pixel at offset ``o`` (row-major in the
    5x5 neighbourhood, 12 is the pixel itself); couplings with known pixels go to ``rhs``
    multiplied by their alpha. Only 3x3 windows that touch an unknown pixel are visited.
    """
    h, w = index.shape
    n = 0
    for y in range(h):
        for x in range(w):
            n = max(n, index[y, x] + 1)
    vals = np.zeros((n, 25))
    rhs = np.zeros(n)
    colours = np.empty((9, 3))
    projected = np.empty((9, 3))
    mean = np.empty(3)
    cov = np.empty((3, 3))
    inverse = np.empty((3, 3))
    for cy in range(1, h - 1):
        for cx in range(1, w - 1):
            if index[cy - 1 : cy + 2, cx - 1 : cx + 2].max() < 0:
                continue
            mean[:] = 0.0
            for k in range(9):
                for c in range(3):
                    colours[k, c] = image[cy + k // 3 - 1, cx + k % 3 - 1, c]
                    mean[c] += colours[k, c] / 9.0
            for k in range(9):
                for c in range(3):
                    colours[k, c] -= mean[c]
            cov[:] = 0.0
            for k in range(9):
                for a in range(3):
                    for b in range(3):
                        cov[a, b] += colours[k, a] * colours[k, b] / 9.0
            for a in range(3):
                cov[a, a] += eps / 9.0
            _inverse_3x3(cov, inverse)
            for k in range(9):
                for c in range(3):
                    projected[k, c] = (
                        colours[k, 0] * inverse[0, c]
                        + colours[k, 1] * inverse[1, c]
                        + colours[k, 2] * inverse[2, c]
                    )
            for a in range(9):
                ya, xa = cy + a // 3 - 1, cx + a % 3 - 1
                row = index[ya, xa]
                if row < 0:
                    continue
                vals[row, 12] += 1.0
                for b in range(9):
                    yb, xb = cy + b // 3 - 1, cx + b % 3 - 1
                    weight = (
                        1.0
                        + projected[a, 0] * colours[b, 0]
                        + projected[a, 1] * colours[b, 1]
                        + projected[a, 2] * colours[b, 2]
                    ) / 9.0
                    if index[yb, xb] >= 0:
                        vals[row, (yb - ya + 2) * 5 + xb - xa + 2] -= weight
                    else:
                        rhs[row] += weight * alpha[yb, xb]
    return vals, rhs


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
    index = np.full((h + 4, w + 4), -1, np.int64)
    uy, ux = np.nonzero(unknown)
    index[uy + 2, ux + 2] = np.arange(uy.size)
    vals, rhs = _assemble(
        np.ascontiguousarray(image, np.float64),
        index[2:-2, 2:-2].copy(),
        np.ascontiguousarray(known_alpha, np.float64),
        float(eps),
    )
    # Columns of each row in offset order: row-major offsets give increasing column indices,
    # so the CSR rows come out sorted.
    cols = np.stack(
        [index[uy + 2 + oy, ux + 2 + ox] for oy in range(-2, 3) for ox in range(-2, 3)], 1
    )
    present = cols >= 0
    indptr = np.concatenate([[0], np.cumsum(present.sum(axis=1))])
    return sp.csr_matrix((vals[present], cols[present], indptr), shape=(uy.size, uy.size)), rhs


def warm_up() -> None:
    """Compile the numba kernel now (it is cached on disk after the first run), so that a
    service's first request does not wait for it."""
    trimap = np.full((5, 5), UNKNOWN, np.uint8)
    trimap[0], trimap[-1] = BACKGROUND, FOREGROUND
    closed_form_alpha(np.random.default_rng(0).random((5, 5, 3)), trimap)


def cholmod_available() -> bool:
    """Whether CHOLMOD (through the optional, GPL-licensed ``cvxopt``) can be used."""
    try:
        import cvxopt.cholmod  # noqa: F401
    except ImportError:
        return False
    return True


def solve_spd(
    matrix: sp.csr_matrix,
    rhs: np.ndarray,
    solver: str = "auto",
    initial: np.ndarray | None = None,
    tol: float = 1e-5,
) -> np.ndarray:
    """Solve the symmetric positive definite system ``matrix x = rhs``.

    Args:
        matrix: ``(n, n)`` sparse SPD matrix (both triangles stored).
        rhs: ``(n,)``.
        solver: ``"cholmod"`` (supernodal Cholesky from SuiteSparse, through ``cvxopt``, an
            optional GPL-licensed dependency a deployer may install), ``"superlu"`` (scipy's
            sparse LU with a symmetric minimum-degree ordering), ``"cg"`` (conjugate gradients
            preconditioned by smoothed-aggregation multigrid: memory linear in ``n``), or
            ``"auto"``: a direct factorisation (CHOLMOD when installed) up to
            ``DIRECT_MAX_UNKNOWN`` unknowns, ``"cg"`` beyond, where fill-in would cost too much
            memory.
        initial: starting guess for ``"cg"`` (ignored by direct solvers).
        tol: relative residual at which ``"cg"`` stops.

    Raises:
        ValueError: for an unknown ``solver``; ImportError for ``"cholmod"`` without cvxopt.
    """
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}, not {solver!r}")
    if solver == "auto":
        if rhs.size > DIRECT_MAX_UNKNOWN:
            solver = "cg"
        else:
            solver = "cholmod" if cholmod_available() else "superlu"
    if solver == "cholmod":
        from cvxopt import cholmod, spmatrix
        from cvxopt import matrix as dense

        lower = sp.tril(matrix).tocoo()
        rows, cols = (dense(i.astype(np.int64)) for i in (lower.row, lower.col))
        x = dense(rhs)
        try:
            cholmod.linsolve(spmatrix(dense(lower.data), rows, cols, matrix.shape), x)
        except ArithmeticError:  # rounding left a pivot <= 0: LU does not need definiteness
            return solve_spd(matrix, rhs, "superlu")
        return np.asarray(x).ravel()
    if solver == "superlu":
        factor = splu(
            matrix.tocsc(),
            permc_spec="MMD_AT_PLUS_A",
            diag_pivot_thresh=0.0,
            options={"SymmetricMode": True},
        )
        return factor.solve(rhs)
    x0 = np.full(rhs.size, 0.5) if initial is None else initial
    preconditioner = pyamg.smoothed_aggregation_solver(matrix).aspreconditioner()
    solution, _ = cg(matrix, rhs, x0=x0, rtol=tol, maxiter=2000, M=preconditioner)
    return solution


def closed_form_alpha(
    image: np.ndarray,
    trimap: np.ndarray,
    eps: float = 1e-7,
    solver: str = "auto",
    initial: np.ndarray | None = None,
) -> np.ndarray:
    """Closed-form matting of the unknown region of ``trimap`` with hard known pixels.

    Args:
        image: ``float64`` RGB ``(H, W, 3)`` in 0..1.
        trimap: ``uint8`` trimap (any values; rounded by :func:`normalize_trimap`).
        eps: covariance regularisation of the local colour-line model.
        solver: linear solver, see :func:`solve_spd`.
        initial: starting guess for alpha for the iterative solver (e.g. an up-scaled coarse
            solution); ``None`` starts from 0.5 everywhere unknown.

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
    x0 = None if initial is None else np.asarray(initial)[unknown]
    alpha[unknown] = np.clip(solve_spd(matrix.tocsr(), rhs, solver, x0), 0.0, 1.0)
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
    image: np.ndarray,
    trimap: np.ndarray,
    max_unknown: int = MAX_UNKNOWN_PIXELS,
    solver: str = "auto",
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
        max_unknown: unknown pixels solved at full resolution, >= 1.
        solver: linear solver, see :func:`solve_spd`.

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
        return closed_form_alpha(img, t, solver=solver)
    scale = float(np.sqrt(max_unknown / unknown))
    h, w = t.shape
    size = (max(2, round(w * scale)), max(2, round(h * scale)))
    small = closed_form_alpha(
        cv2.resize(img, size, interpolation=cv2.INTER_AREA),
        cv2.resize(t, size, interpolation=cv2.INTER_NEAREST),
        solver=solver,
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
    return closed_form_alpha(img, refine, solver=solver, initial=coarse)


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
