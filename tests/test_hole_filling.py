"""Hole filling of automatic mattes: a hole is filled when it shows the subject's colours, kept when it
shows the background."""

import numpy as np
import pytest

from alphanet_tf.hole_filling import enclosed_holes, fill_foreground_holes

RED, BLUE, DARK_RED = (200, 40, 40), (30, 60, 220), (170, 30, 35)


def scene(hole_colour, h=80, w=100):
    """A red square subject on a blue photo; alpha 1 on the square except a 10 x 10 hole at its centre,
    whose pixels have `hole_colour`. Returns (image, alpha, hole mask)."""
    image = np.empty((h, w, 3), np.uint8)
    image[:] = BLUE
    image[20:60, 30:70] = RED
    hole = np.zeros((h, w), bool)
    hole[35:45, 45:55] = True
    image[hole] = hole_colour
    alpha = np.zeros((h, w), np.float32)
    alpha[20:60, 30:70] = 1.0
    alpha[hole] = 0.2
    return image, alpha, hole


def test_enclosed_holes_are_the_pixels_the_subject_surrounds():
    _, alpha, hole = scene(RED)
    np.testing.assert_array_equal(enclosed_holes(alpha), hole)
    alpha[38:42, 50:70] = 0.0  # a channel from the hole out to the background: no longer enclosed
    assert not enclosed_holes(alpha).any()


def test_a_hole_in_the_subjects_colours_is_filled_and_nothing_else_changes():
    image, alpha, hole = scene(DARK_RED)
    out = fill_foreground_holes(image, alpha)
    assert np.all(out[hole] == 1.0)
    np.testing.assert_array_equal(out[~hole], alpha[~hole])
    assert alpha[hole].max() == pytest.approx(0.2)  # the input is not modified


def test_a_hole_showing_the_background_is_kept():
    image, alpha, _ = scene(BLUE)
    np.testing.assert_array_equal(fill_foreground_holes(image, alpha), alpha)


def test_share_of_foreground_coloured_pixels_decides():
    image, alpha, hole = scene(RED)
    image[35:45, 45:49] = BLUE  # 40 % of the hole shows the background, 60 % the subject
    assert np.all(fill_foreground_holes(image, alpha, share=0.55)[hole] == 1.0)
    np.testing.assert_array_equal(fill_foreground_holes(image, alpha, share=0.65), alpha)


def test_nothing_to_do_without_holes_or_without_background():
    image, alpha, hole = scene(RED)
    alpha[hole] = 1.0
    assert fill_foreground_holes(image, alpha) is alpha
    image, alpha, hole = scene(RED)
    alpha[:20], alpha[60:], alpha[:, :30], alpha[:, 70:] = 1.0, 1.0, 1.0, 1.0  # the subject fills the photo
    assert fill_foreground_holes(image, alpha) is alpha
