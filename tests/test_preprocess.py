"""Cap, pad and their inverse: exact round trips, shapes back at full size, edge-aware upsampling."""

import subprocess
import sys

import cv2
import numpy as np
import pytest

from alphanet_tf.preprocess import (
    capped_size,
    crop_padding,
    guided_upsample,
    prepare,
    prepare_map,
    restore,
    restore_trimap,
)


def random_image(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("h, w", [(8, 8), (33, 65), (64, 96), (100, 31), (32, 32)])
def test_pad_crop_round_trip_is_exact(h, w):
    image = random_image(h, w)
    x, geom = prepare(image, max_side=1500)
    assert x.dtype == np.float32 and x.shape[0] % 32 == 0 and x.shape[1] % 32 == 0
    assert x.shape[:2] == geom.padded_size and not geom.scaled
    np.testing.assert_array_equal(crop_padding(x, geom), image.astype(np.float32))
    np.testing.assert_array_equal(restore(x[..., 0] / 255.0, geom), image[..., 0] / np.float32(255.0))


def test_padding_is_reflected_not_black():
    image = np.full((40, 50, 3), 200, np.uint8)
    x, _ = prepare(image)
    assert x.min() == 200


def test_cap_long_side_and_restore_full_size():
    image = random_image(300, 200)
    x, geom = prepare(image, max_side=100)
    assert geom.scaled_size == (100, 67) and geom.size == (300, 200)
    assert x.shape[:2] == (128, 96)
    alpha = restore(np.full(x.shape[:2], 0.25, np.float32), geom, guide=image)
    assert alpha.shape == (300, 200) and alpha.dtype == np.float32
    np.testing.assert_allclose(alpha, 0.25, atol=1e-4)  # a flat matte stays flat
    seg = restore(np.full((*x.shape[:2], 1), 0.5, np.float32), geom, edge_aware=False)
    assert seg.shape == (300, 200)
    assert capped_size((3000, 2000), 1500) == (1500, 1000)
    assert capped_size((3000, 2000), None) == (3000, 2000)


def test_trimap_levels_survive_cap_pad_and_restore():
    trimap = np.zeros((300, 200), np.float32)
    trimap[100:200, 50:150] = 0.5
    trimap[120:180, 70:130] = 1.0
    _, geom = prepare(random_image(300, 200), max_side=100)
    t = prepare_map(trimap, geom)
    assert t.shape == geom.padded_size and set(np.unique(t)) <= {0.0, 0.5, 1.0}
    back = restore_trimap(t, geom)
    assert back.shape == (300, 200) and set(np.unique(back)) == {0.0, 0.5, 1.0}


def test_restore_rejects_a_wrong_output_size():
    _, geom = prepare(random_image(40, 40))
    with pytest.raises(ValueError, match="padded size"):
        restore(np.zeros((32, 32), np.float32), geom)


def disc_scene(size=400, radius=120, seed=0):
    """A red disc on green with camera noise; the true alpha is the sharp disc."""
    yy, xx = np.mgrid[:size, :size]
    truth = (((xx - size / 2) ** 2 + (yy - size / 2) ** 2) < radius**2).astype(np.float32)
    photo = np.where(truth[..., None] > 0, (200, 60, 40), (30, 150, 60)).astype(np.float32)
    photo += np.random.default_rng(seed).normal(0, 3, photo.shape)
    return np.clip(photo, 0, 255).astype(np.uint8), truth


def test_guided_upsampling_keeps_edges_sharper_than_bilinear():
    photo, truth = disc_scene()
    small = cv2.resize(truth, (100, 100), interpolation=cv2.INTER_AREA)  # what a 4x-capped net would see
    bilinear = cv2.resize(small, (400, 400), interpolation=cv2.INTER_LINEAR)
    guided = guided_upsample(small, photo)
    err_bilinear = np.abs(bilinear - truth).mean()
    err_guided = np.abs(guided - truth).mean()
    soft = lambda a: ((a > 0.05) & (a < 0.95)).mean()  # noqa: E731  (fraction of blurred edge pixels)
    assert err_guided < 0.3 * err_bilinear, (err_guided, err_bilinear)
    assert soft(guided) < 0.3 * soft(bilinear), (soft(guided), soft(bilinear))
    assert guided.min() >= 0 and guided.max() <= 1


def test_guided_upsampling_at_same_size_is_identity():
    photo, truth = disc_scene(64, 20)
    np.testing.assert_array_equal(guided_upsample(truth, photo), truth)


def test_module_does_not_import_tensorflow():
    code = "import sys, alphanet_tf.preprocess; sys.exit('tensorflow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_working_side_defaults_by_mode():
    from alphanet_tf.preprocess import DEFAULT_MAX_SIDE, TRIMAP_MAX_SIDE, working_side

    assert working_side(None, given_trimap=False) == DEFAULT_MAX_SIDE == 512
    assert working_side(None, given_trimap=True) == TRIMAP_MAX_SIDE == 1500
    assert working_side(800, given_trimap=True) == 800 and working_side(0, given_trimap=False) == 0
