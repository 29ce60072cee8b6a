"""The matting-Laplacian refinement: exact on a two-colour composite, the prior where it is trusted."""

import numpy as np
import pytest

from alphanet_tf.laplacian_refinement import refine_with_laplacian, solve_with_prior, unknown_box

FG, BG = np.array([230, 60, 30]), np.array([20, 90, 210])


def composite_scene(h=40, w=40, seed=0):
    """alpha ramps 0 -> 1 over columns 10..29 (with row-wise jitter); image = alpha F + (1 - alpha) B.

    Two constant colours are exactly the colour-line model, so closed-form matting recovers alpha.
    """
    rng = np.random.default_rng(seed)
    cols = np.arange(w)[None, :] + rng.uniform(-2, 2, (h, 1))
    alpha = np.clip((cols - 10) / 20.0, 0.0, 1.0)
    image = np.rint(alpha[..., None] * FG + (1 - alpha[..., None]) * BG).astype(np.uint8)
    trimap = np.full((h, w), 0.5, np.float32)
    trimap[:, :8] = 0.0
    trimap[:, 32:] = 1.0
    return image, trimap, alpha


def test_unknown_box_grows_and_clips():
    unknown = np.zeros((10, 12), bool)
    unknown[3:5, 5:8] = True
    assert unknown_box(unknown, 2) == (slice(1, 7), slice(3, 10))
    assert unknown_box(unknown, 5) == (slice(0, 10), slice(0, 12))
    assert unknown_box(np.zeros((4, 4), bool), 2) is None


def test_recovers_a_two_colour_composite_from_a_flat_prior():
    image, trimap, alpha = composite_scene()
    prior = np.full(alpha.shape, 0.5, np.float32)
    refined = refine_with_laplacian(image, trimap, prior, prior_weight=1e-6)
    band = trimap == 0.5
    prior_error = np.abs(prior - alpha)[band].mean()
    error = np.abs(refined - alpha)[band].mean()
    assert prior_error > 0.2 and error < 0.005


def test_a_heavy_prior_weight_keeps_the_prior():
    image, trimap, _ = composite_scene()
    prior = np.random.default_rng(1).uniform(0, 1, trimap.shape).astype(np.float32)
    refined = refine_with_laplacian(image, trimap, prior, prior_weight=1e4)
    band = trimap == 0.5
    np.testing.assert_allclose(refined[band], prior[band], atol=1e-3)


def test_known_pixels_are_the_trimap_and_alpha_stays_in_range():
    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, (30, 50, 3)).astype(np.uint8)
    trimap = np.full((30, 50), 0.5, np.float32)
    trimap[:, :10], trimap[:, 40:] = 0.0, 1.0
    prior = rng.uniform(-0.5, 1.5, (30, 50)).astype(np.float32)
    refined = refine_with_laplacian(image, trimap, prior)
    assert refined.shape == (30, 50) and refined.dtype == np.float32
    assert (refined[:, :10] == 0).all() and (refined[:, 40:] == 1).all()
    assert refined.min() >= 0 and refined.max() <= 1


def test_no_unknown_pixels_gives_the_trimap():
    trimap = np.zeros((8, 8), np.float32)
    trimap[:, 4:] = 1.0
    out = solve_with_prior(np.zeros((8, 8, 3)), trimap, np.full((8, 8), 0.3))
    np.testing.assert_array_equal(out, trimap)


def test_large_images_are_solved_downscaled_with_the_trimap_kept_exact():
    image, trimap, alpha = composite_scene(80, 80)
    trimap[:, :16], trimap[:, 16:64], trimap[:, 64:] = 0.0, 0.5, 1.0
    alpha = np.clip((np.arange(80)[None, :] - 20) / 40.0, 0, 1) * np.ones((80, 1))
    image = np.rint(alpha[..., None] * FG + (1 - alpha[..., None]) * BG).astype(np.uint8)
    prior = np.full(alpha.shape, 0.5, np.float32)
    full = refine_with_laplacian(image, trimap, prior, prior_weight=1e-6)
    small = refine_with_laplacian(image, trimap, prior, prior_weight=1e-6, max_side=40)
    assert (small[:, :16] == 0).all() and (small[:, 64:] == 1).all()
    band = trimap == 0.5
    assert np.abs(full - alpha)[band].mean() < 0.02
    assert np.abs(small - alpha)[band].mean() < 0.05


@pytest.mark.parametrize("weight", [1e-6, 1e-3])
def test_the_solution_solves_the_system(weight):
    """(L_UU + w I) a_U = w prior_U - L_UK a_K, checked with the Laplacian built independently."""
    from pymatting import cf_laplacian

    image, trimap, _ = composite_scene(20, 24, seed=3)
    prior = np.random.default_rng(3).uniform(0, 1, trimap.shape)
    photo = image / 255.0
    refined = solve_with_prior(photo, trimap, prior, weight)
    u = (trimap == 0.5).ravel()
    assert (0 < refined[trimap == 0.5]).all() and (refined[trimap == 0.5] < 1).all()  # not clipped
    laplacian = cf_laplacian(photo, epsilon=1e-7, radius=1).tocsr()
    a = refined.ravel()
    residual = laplacian[u][:, u] @ a[u] + weight * (a[u] - prior.ravel()[u]) + laplacian[u][:, ~u] @ a[~u]
    assert np.abs(residual).max() < 1e-5 * max(1.0, np.abs(laplacian[u][:, u] @ a[u]).max())
