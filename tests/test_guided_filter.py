"""GuidedFilter against a numpy reference (He et al.'s algorithm written out) and its defining property."""

import cv2
import numpy as np

from alphanet_tf.layers import GuidedFilter
from tests.helpers import assert_config_round_trip


def _box(x, r):
    """Window mean counting only pixels inside the image."""
    k = (2 * r + 1, 2 * r + 1)
    total = cv2.boxFilter(x, -1, k, normalize=False, borderType=cv2.BORDER_CONSTANT)
    count = cv2.boxFilter(np.ones_like(x), -1, k, normalize=False, borderType=cv2.BORDER_CONSTANT)
    return total / count


def reference(image, p, r, eps):
    guide = image / 255.0
    mean_i = np.stack([_box(guide[..., c], r) for c in range(3)], -1)
    mean_p = _box(p, r)
    cov = np.stack([_box(guide[..., c] * p, r) for c in range(3)], -1) - mean_i * mean_p[..., None]
    sigma = np.empty(p.shape + (3, 3))
    for i in range(3):
        for j in range(3):
            sigma[..., i, j] = _box(guide[..., i] * guide[..., j], r) - mean_i[..., i] * mean_i[..., j]
    a = np.linalg.solve(sigma + eps * np.eye(3), cov[..., None])[..., 0]
    b = mean_p - (a * mean_i).sum(-1)
    return (np.stack([_box(a[..., c], r) for c in range(3)], -1) * guide).sum(-1) + _box(b, r)


def test_matches_the_reference_on_random_data():
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 255, (2, 24, 40, 3))
    p = rng.uniform(0, 1, (2, 24, 40, 1))
    layer = GuidedFilter(radius=2, epsilon=1e-3)
    out = np.asarray(layer([image.astype("float32"), p.astype("float32")]))
    assert out.shape == (2, 24, 40, 1)
    for n in range(2):
        np.testing.assert_allclose(out[n, ..., 0], reference(image[n], p[n, ..., 0], 2, 1e-3), atol=2e-4)
    assert_config_round_trip(layer, [image.astype("float32"), p.astype("float32")])


def test_keeps_an_alpha_that_is_linear_in_the_colours_and_smooths_one_that_is_not():
    rng = np.random.default_rng(1)
    image = rng.uniform(0, 255, (1, 32, 32, 3)).astype("float32")
    linear = (0.3 * image[..., :1] + 0.5 * image[..., 1:2] - 0.2 * image[..., 2:]) / 255.0 + 0.1
    out = np.asarray(GuidedFilter(radius=3, epsilon=1e-6)([image, linear]))
    np.testing.assert_allclose(out, linear, atol=1e-3)
    flat = np.full((1, 32, 32, 3), 100.0, "float32")  # no colour to follow: a smoothed alpha (box of box)
    step = np.zeros((1, 32, 32, 1), "float32")
    step[:, :, 16:] = 1.0
    out = np.asarray(GuidedFilter(radius=2, epsilon=1e-4)([flat, step]))[0, 5, :, 0]
    assert np.allclose(out[:12], 0, atol=1e-5) and np.allclose(out[20:], 1, atol=1e-5)
    assert 0.05 < out[14] < out[15] < out[16] < out[17] < 0.95
