"""Tests for alphanet_tf.metrics: hand-computed values and known properties of the DIM metrics."""

import math
import subprocess
import sys

import numpy as np
import pytest

from alphanet_tf import metrics as M

# A 4x4 example. gt: left half background, right half foreground.
GT = np.array([[0, 0, 1, 1]] * 4, dtype=np.float64)
# alpha differs from gt at three pixels: (0,0) by 0.5, (1,2) by 0.25, (3,3) by 1.0.
ALPHA = GT.copy()
ALPHA[0, 0] = 0.5
ALPHA[1, 2] = 0.75
ALPHA[3, 3] = 0.0
# Unknown band = the two middle columns (only (1,2) differs inside it).
TRIMAP = np.array([[0, 128, 128, 255]] * 4, dtype=np.uint8)


def _random_mattes(seed=0, shape=(24, 32)):
    """A smooth-ish ground truth and a noisy prediction, both in [0, 1]."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    gt = np.clip((xx - shape[1] / 3) / 6.0, 0, 1) * (yy > 3)
    pred = np.clip(gt + rng.normal(0, 0.15, shape), 0, 1)
    return pred, gt


# ----------------------------------------------------------------------------- SAD / MSE by hand
def test_sad_by_hand():
    # sum |alpha - gt| = 0.5 + 0.25 + 1.0 = 1.75 -> / 1000
    assert M.sad(ALPHA, GT) == pytest.approx(1.75e-3)


def test_mse_by_hand():
    # sum (alpha - gt)^2 = 0.25 + 0.0625 + 1.0 = 1.3125 over 16 pixels
    assert M.mse(ALPHA, GT) == pytest.approx(1.3125 / 16)


def test_region_restricts_sad_and_mse():
    region = M.unknown_region(TRIMAP)
    assert region.sum() == 8
    # Inside the band only (1,2) differs: |d| = 0.25, d^2 = 0.0625 over 8 pixels.
    assert M.sad(ALPHA, GT, region) == pytest.approx(0.25e-3)
    assert M.mse(ALPHA, GT, region) == pytest.approx(0.0625 / 8)


def test_empty_region_is_zero_not_nan():
    region = np.zeros(GT.shape, dtype=bool)
    assert M.sad(ALPHA, GT, region) == 0.0
    assert M.mse(ALPHA, GT, region) == 0.0


def test_sad_mse_symmetric():
    pred, gt = _random_mattes()
    assert M.sad(pred, gt) == pytest.approx(M.sad(gt, pred))
    assert M.mse(pred, gt) == pytest.approx(M.mse(gt, pred))
    assert M.sad(pred, gt) > 0


def test_identical_mattes_score_zero():
    _, gt = _random_mattes()
    scores = M.matting_metrics(gt, gt)
    assert scores == {"sad": 0.0, "mse": 0.0, "grad": 0.0, "conn": 0.0}


# ----------------------------------------------------------------------------- gradient
def test_gaussian_derivative_kernel_shape_and_norm():
    # half size = ceil(1.4 * sqrt(-2 ln(sqrt(2 pi) * 1.4 * 0.01))) = ceil(3.62) = 4 -> 9x9
    hx = M.gaussian_derivative_kernel(1.4)
    assert hx.shape == (9, 9)
    assert np.sqrt((hx**2).sum()) == pytest.approx(1.0)
    np.testing.assert_allclose(hx, -hx[:, ::-1], atol=1e-15)  # odd along x
    np.testing.assert_allclose(hx, hx[::-1, :], atol=1e-15)  # even along y


def test_gradient_of_ramp_matches_closed_form():
    # For f(y, x) = x, the convolution gives sum_{u,v} hx[u,v] * (x - v) = -sum hx[u,v] * v,
    # with hx[u, v] = G(u) * (-v G(v) / s^2) / norm  (offsets u, v in -4..4).
    s = 1.4
    u = np.arange(-4, 5)
    g = np.exp(-(u**2) / (2 * s**2)) / (s * math.sqrt(2 * math.pi))
    raw = np.outer(g, -u * g / s**2)
    expected = -(raw / np.sqrt((raw**2).sum()) * u[None, :]).sum()
    ramp = np.tile(np.arange(20, dtype=np.float64), (20, 1))
    mag = M.gradient_magnitude(ramp, s)
    assert mag[10, 10] == pytest.approx(abs(expected))
    np.testing.assert_allclose(M.gradient_magnitude(ramp.T, s), mag.T)


def test_gradient_error_invariant_to_min_max_normalisation():
    pred, gt = _random_mattes(1)
    base = M.gradient_error(pred, gt)
    assert base > 0
    # Each matte is min-max normalised on its own, so affine maps of either input do not matter.
    assert M.gradient_error(0.5 * pred + 0.2, 0.3 * gt + 0.6) == pytest.approx(base)


def test_gradient_error_detects_blur():
    _, gt = _random_mattes(2)
    sharp = (gt > 0.5).astype(np.float64)
    assert M.gradient_error(sharp, gt) > M.gradient_error(gt, gt) == 0.0


def test_gradient_region_only_selects_pixels():
    pred, gt = _random_mattes(3)
    full = M.gradient_error_map(pred, gt)
    region = np.zeros(gt.shape, dtype=bool)
    region[5:10, 5:12] = True
    assert M.gradient_error(pred, gt, region) == pytest.approx(full[region].sum() / 1000)
    assert M.gradient_error(pred, gt, region) < M.gradient_error(pred, gt)


# ----------------------------------------------------------------------------- connectivity
def test_connectivity_zero_for_identical():
    _, gt = _random_mattes(4)
    assert M.connectivity_error(gt, gt) == 0.0


def test_connectivity_penalises_a_detached_island():
    # Largest component of (a >= t) & (g >= t) is columns 0-1 at every t, so l = [1, 1, 0, 0, 0].
    # phi(alpha): d = [0, 0, 0, 0, 1] -> [1, 1, 1, 1, 0]; phi(gt) = all 1 -> sum |diff| = 1.
    gt = np.array([[1, 1, 0, 0, 0]], dtype=np.float64)
    alpha = np.array([[1, 1, 0, 0, 1]], dtype=np.float64)
    assert M.connectivity_error(alpha, gt) == pytest.approx(1e-3)


def test_connectivity_soft_values_and_theta():
    # gt [1, .5, .1]: column 2 leaves the component at t = .2 (l = .1), column 1 at t = .6 (l = .5).
    gt = np.array([[1.0, 0.5, 0.1]])
    # alpha .3 at column 2: d = .3 - .1 = .2 >= .15 -> phi = .8 vs 1 -> error .2 / 1000
    assert M.connectivity_error(np.array([[1.0, 0.5, 0.3]]), gt) == pytest.approx(2e-4, rel=1e-5)
    # alpha .2 at column 2: d = .1 < theta -> phi = 1 -> no connectivity error (SAD is not zero)
    assert M.connectivity_error(np.array([[1.0, 0.5, 0.2]]), gt) == 0.0
    assert M.sad(np.array([[1.0, 0.5, 0.2]]), gt) > 0


def test_connectivity_uses_4_connectivity():
    # Pixel (1, 2) touches the big component only diagonally, so it is its own component: l = 0.
    # phi(alpha) = 1 - .7 = .3, phi(gt) = 1 - .6 = .4 -> error .1 / 1000. (With 8-connectivity
    # it would stay in the component until t = .7, l = .6, both d < theta -> no error.)
    gt = np.array([[1, 1, 0], [0, 0, 0.6]])
    alpha = np.array([[1, 1, 0], [0, 0, 0.7]])
    assert M.connectivity_error(alpha, gt) == pytest.approx(1e-4, rel=1e-4)


def test_connectivity_region_restriction():
    gt = np.array([[1, 1, 0, 0, 0]], dtype=np.float64)
    alpha = np.array([[1, 1, 0, 0, 1]], dtype=np.float64)
    region = np.array([[True, True, True, True, False]])
    assert M.connectivity_error(alpha, gt, region) == 0.0


def test_connectivity_uint8_threshold_ties_count_as_reached():
    # gt 153/255 == 0.6 exactly, so it still reaches t = 0.6 (>=) and leaves at 0.7: l = 0.6.
    # alpha 204/255 = 0.8: d = 0.2 >= theta -> phi = 0.8; phi(gt) = 1 -> error 0.2 / 1000.
    # (A float64 threshold 6 * 0.1 = 0.6000000000000001 would give l = 0.5 and error 0.3 / 1000.)
    gt = np.array([[255, 153]], dtype=np.uint8)
    alpha = np.array([[255, 204]], dtype=np.uint8)
    assert M.connectivity_error(alpha, gt) == pytest.approx(2e-4, rel=1e-5)


# ----------------------------------------------------------------------------- inputs
def test_uint8_and_float_agree():
    pred, gt = _random_mattes(5)
    p8, g8 = np.round(pred * 255).astype(np.uint8), np.round(gt * 255).astype(np.uint8)
    trimap = np.where(gt > 0.99, 255, np.where(gt < 0.01, 0, 128)).astype(np.uint8)
    as_uint8 = M.matting_metrics(p8, g8, trimap)
    as_float = M.matting_metrics(p8 / 255.0, g8 / 255.0, trimap)
    assert as_uint8 == pytest.approx(as_float)
    assert as_uint8["sad"] > 0


@pytest.mark.parametrize("fn", [M.sad, M.mse, M.gradient_error, M.connectivity_error])
def test_shape_mismatch_raises_naming_shapes(fn):
    with pytest.raises(ValueError, match=r"\(4, 4\).*\(4, 5\)"):
        fn(np.zeros((4, 4)), np.zeros((4, 5)))


def test_region_shape_mismatch_raises():
    with pytest.raises(ValueError, match="region"):
        M.sad(ALPHA, GT, np.ones((3, 3), dtype=bool))


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match=r"2-D.*\(4, 4, 3\)"):
        M.sad(np.zeros((4, 4, 3)), np.zeros((4, 4, 3)))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        M.sad(GT * 255.0, GT)
    with pytest.raises(ValueError, match="boolean"):
        M.sad(ALPHA, GT, TRIMAP)


def test_unknown_region_uint8_and_float_trimaps():
    assert M.unknown_region(TRIMAP).tolist() == (TRIMAP == 128).tolist()
    assert not M.unknown_region(np.array([[127, 129]], dtype=np.uint8)).any()
    assert M.unknown_region(np.array([[0.0, 0.5, 128 / 255, 1.0]])).tolist() == [
        [False, True, True, False]
    ]


# ----------------------------------------------------------------------------- combined forms
def test_matting_metrics_region_choice():
    with_band = M.matting_metrics(ALPHA, GT, TRIMAP)  # trimap given -> unknown band
    assert with_band["sad"] == pytest.approx(0.25e-3)
    whole = M.matting_metrics(ALPHA, GT, TRIMAP, region="whole")
    assert whole["sad"] == pytest.approx(1.75e-3)
    assert M.matting_metrics(ALPHA, GT)["sad"] == pytest.approx(1.75e-3)
    with pytest.raises(ValueError, match="trimap"):
        M.matting_metrics(ALPHA, GT, region="unknown")
    with pytest.raises(ValueError, match="trimap"):
        M.matting_metrics(ALPHA, GT, np.zeros((4, 5), dtype=np.uint8))


def test_per_pixel_form_divides_by_pixel_count():
    pp = M.matting_metrics_per_pixel(ALPHA, GT)
    dim = M.matting_metrics(ALPHA, GT)
    assert pp["sad"] == pytest.approx(1.75 / 16)
    assert pp["mse"] == pytest.approx(dim["mse"])
    assert pp["grad"] == pytest.approx(dim["grad"] * 1000 / 16)
    assert pp["conn"] == pytest.approx(dim["conn"] * 1000 / 16)


def test_metrics_module_does_not_import_tensorflow():
    code = "import sys, alphanet_tf.metrics; sys.exit('tensorflow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# ----------------------------------------------------------------------------- segmentation
def test_iou_and_f_measure_by_hand():
    pred = np.array([[1, 1, 1, 0]], dtype=bool)
    gt = np.array([[0, 1, 0, 0]], dtype=bool)
    assert M.iou(pred, gt) == pytest.approx(1 / 3)  # 1 shared / 3 in the union
    # precision 1/3, recall 1: F = 1.3 * (1/3) / (0.3 * (1/3) + 1) = 0.4333 / 1.1
    assert M.f_measure(pred, gt) == pytest.approx(1.3 / 3 / 1.1)
    assert M.f_measure(pred, gt, beta2=1.0) == pytest.approx(0.5)  # plain F1 = 2PR / (P + R)


def test_segmentation_metrics_by_hand_and_label_maps():
    prob = np.array([[0.8, 0.6, 0.2, 0.0]])
    gt = np.array([[0, 2, 0, 0]], dtype=np.uint8)  # label map: person 2 is foreground
    scores = M.segmentation_metrics(prob, gt)
    # prediction >= .5 = [1, 1, 0, 0]: IoU 1/2; P 1/2, R 1 -> F = .65 / 1.15; MAE = 1.4 / 4
    assert scores["iou"] == pytest.approx(0.5)
    assert scores["f_measure"] == pytest.approx(0.65 / 1.15)
    assert scores["mae"] == pytest.approx(0.35)


def test_segmentation_edge_cases():
    empty = np.zeros((3, 3), dtype=bool)
    full = np.ones((3, 3), dtype=bool)
    assert M.iou(empty, empty) == 1.0 and M.f_measure(empty, empty) == 1.0
    assert M.iou(empty, full) == 0.0 and M.f_measure(empty, full) == 0.0
    assert M.mae(np.full((3, 3), 255, np.uint8), full) == 0.0
    with pytest.raises(ValueError, match=r"\(3, 3\).*\(3, 4\)"):
        M.segmentation_metrics(np.zeros((3, 3)), np.zeros((3, 4)))
