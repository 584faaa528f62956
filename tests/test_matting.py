"""services/segmentation/matting.py: trimaps, closed-form alpha, foreground colours."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from bench.product_scenes import make_scene
from services.segmentation import matting
from tests.conftest import shared_data


def sad(alpha: np.ndarray, truth: np.ndarray, region: np.ndarray) -> float:
    """Sum of absolute differences over `region`, alpha in 0..1, divided by 1000."""
    return float(np.abs(alpha - truth)[region].sum() / 1000)


def test_trimap_from_mask_has_a_band_of_the_asked_width():
    mask = np.zeros((100, 100), np.uint8)
    mask[30:70, 30:70] = 1
    trimap = matting.trimap_from_mask(mask, band=5)
    assert set(np.unique(trimap)) == {0, 128, 255}
    row = trimap[50]
    assert (row[:25] == 0).all() and (row[36:64] == 255).all() and (row[75:] == 0).all()
    assert (row[25:35] == 128).all() and (row[65:75] == 128).all()
    assert matting.default_band((2000, 3000)) == 20 and matting.default_band((64, 64)) == 5


def test_normalize_trimap_rounds_to_three_levels():
    t = matting.normalize_trimap(np.array([[0, 63, 64, 128, 191, 192, 255]], np.uint8))
    assert t.tolist() == [[0, 0, 128, 128, 128, 255, 255]]


def test_closed_form_recovers_a_soft_edge_exactly_where_colours_are_two_lines():
    # Foreground and background each a constant colour: the colour-line model is exact, so the
    # solved alpha must equal the truth inside the unknown band.
    yy, xx = np.mgrid[0:96, 0:128]
    radius = np.hypot(yy - 48, xx - 60)
    truth = np.clip(30.0 - radius, 0, 3) / 3  # a disc with a 3-pixel soft edge
    trimap = matting.trimap_from_mask(truth >= 0.5, band=4)
    flat = 0.2 * np.ones((96, 128, 3))
    fg = np.array([0.9, 0.3, 0.1])
    image = truth[..., None] * fg + (1 - truth[..., None]) * flat
    alpha = matting.closed_form_alpha(image, (trimap).astype(np.uint8))
    unknown = trimap == 128
    assert np.abs(alpha - truth)[unknown].max() < 0.02
    assert (alpha[trimap == 255] == 1).all() and (alpha[trimap == 0] == 0).all()


def dense_laplacian(image: np.ndarray, eps: float) -> np.ndarray:
    """Levin et al.'s matting Laplacian written out from its definition, for small images."""
    h, w, _ = image.shape
    laplacian = np.zeros((h * w, h * w))
    for cy in range(1, h - 1):
        for cx in range(1, w - 1):
            ys, xs = np.mgrid[cy - 1 : cy + 2, cx - 1 : cx + 2]
            pixels = (ys * w + xs).ravel()
            colours = image[ys, xs].reshape(9, 3)
            centred = colours - colours.mean(axis=0)
            covariance = centred.T @ centred / 9 + eps / 9 * np.eye(3)
            affinity = (1 + centred @ np.linalg.inv(covariance) @ centred.T) / 9
            laplacian[np.ix_(pixels, pixels)] += np.eye(9) - affinity
    return laplacian


def test_restricted_system_is_the_matting_laplacian_with_known_pixels_moved_right():
    rng = np.random.default_rng(5)
    image = rng.random((9, 11, 3))
    unknown = np.zeros((9, 11), bool)
    unknown[2:7, 3:9] = True
    unknown[0, 0] = True  # a corner pixel lies in a single window
    known_alpha = (rng.random((9, 11)) > 0.5).astype(float)
    matrix, rhs = matting.laplacian_system(image, unknown, known_alpha, eps=1e-3)
    full = dense_laplacian(image, 1e-3)
    u, k = unknown.ravel(), ~unknown.ravel()
    np.testing.assert_allclose(matrix.toarray(), full[np.ix_(u, u)], atol=1e-9)
    np.testing.assert_allclose(rhs, -full[np.ix_(u, k)] @ known_alpha.ravel()[k], atol=1e-9)


@pytest.mark.parametrize("solver", ["superlu", "cg", "cholmod"])
def test_every_solver_gives_the_same_alpha(solver):
    if solver == "cholmod" and not matting.cholmod_available():
        pytest.skip("cvxopt (CHOLMOD) is not installed")
    scene = make_scene("texture", seed=2)
    image = matting.as_float_image(scene.image)
    trimap = matting.trimap_from_mask(scene.alpha >= 0.5, band=6)
    reference = matting.closed_form_alpha(image, trimap, solver="superlu")
    alpha = matting.closed_form_alpha(image, trimap, solver=solver)
    assert np.abs(alpha - reference).max() < 2e-3


def test_cholmod_falls_back_to_lu_when_rounding_breaks_definiteness():
    if not matting.cholmod_available():
        pytest.skip("cvxopt (CHOLMOD) is not installed")
    import scipy.sparse as sp

    indefinite = sp.csr_matrix(np.array([[1.0, 2.0], [2.0, 1.0]]))
    x = matting.solve_spd(indefinite, np.array([3.0, 3.0]), solver="cholmod")
    assert np.allclose(x, [1.0, 1.0])


def test_unknown_solver_is_a_value_error():
    with pytest.raises(ValueError, match="solver"):
        matting.closed_form_alpha(np.zeros((8, 8, 3)), np.full((8, 8), 128, np.uint8), solver="x")


def test_estimate_alpha_beats_the_trimap_and_a_hard_mask_on_a_synthetic_product():
    scene = make_scene("texture", seed=2)
    trimap = matting.trimap_from_mask(scene.alpha >= 0.5, band=6)
    unknown = trimap == 128
    alpha = matting.estimate_alpha(scene.image, trimap)
    hard = (scene.alpha >= 0.5).astype(float)
    assert sad(alpha, scene.alpha, unknown) < 0.5 * sad(hard, scene.alpha, unknown)
    assert sad(alpha, scene.alpha, unknown) < 0.6


def test_large_unknown_regions_take_the_coarse_to_fine_path_with_the_same_quality():
    scene = make_scene("gradient", seed=3)
    trimap = matting.trimap_from_mask(scene.alpha >= 0.5, band=10)
    unknown = trimap == 128
    full = matting.estimate_alpha(scene.image, trimap)
    bounded = matting.estimate_alpha(scene.image, trimap, max_unknown=int(unknown.sum()) // 2)
    assert sad(bounded, scene.alpha, unknown) < 1.3 * sad(full, scene.alpha, unknown) + 0.05


def test_mismatched_trimap_is_a_value_error():
    with pytest.raises(ValueError, match="trimap"):
        matting.estimate_alpha(np.zeros((10, 12, 3), np.uint8), np.zeros((12, 10), np.uint8))


def test_foreground_estimate_removes_background_spill():
    scene = make_scene("colour", seed=4)
    image = scene.image.astype(np.float64) / 255
    edge = (scene.alpha > 0.1) & (scene.alpha < 0.9)
    fg = matting.estimate_foreground(image, scene.alpha)
    before = np.abs(image - scene.foreground)[edge].mean()
    after = np.abs(fg - scene.foreground)[edge].mean()
    assert after < 0.5 * before, (before, after)


def test_no_unknown_pixels_is_the_trimap_itself():
    trimap = np.zeros((20, 20), np.uint8)
    trimap[5:15, 5:15] = 255
    alpha = matting.estimate_alpha(np.zeros((20, 20, 3), np.uint8), trimap)
    assert np.array_equal(alpha, trimap / 255.0)


@pytest.mark.parametrize("name", ["GT02", "GT05"])
def test_alphamatting_sad_is_that_of_closed_form(name):
    d = shared_data("alphamatting_lowres")
    image = np.asarray(Image.open(d / "input" / f"{name}.png").convert("RGB"))
    truth = np.asarray(Image.open(d / "gt_alpha" / f"{name}.png").convert("L")) / 255.0
    trimap = np.asarray(Image.open(d / "trimap1" / f"{name}.png").convert("L"))
    unknown = matting.normalize_trimap(trimap) == 128
    alpha = matting.estimate_alpha(image, trimap)
    # Closed-form (pymatting 1.1.16, same trimap) measured 4.31 / 1.26 on these two images.
    assert sad(alpha, truth, unknown) < {"GT02": 4.4, "GT05": 1.35}[name]
