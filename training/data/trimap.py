"""Trimaps from a ground-truth alpha by random erosion / dilation.

``unknown = dilate(alpha > 0, r1) - erode(alpha >= 1, r2)``; values 0 (background), 0.5 (unknown), 1
(foreground). Every pixel with 0 < alpha < 1 is unknown by construction. Dilation and erosion use a Euclidean
distance transform (a disc of radius r, any r at the same cost); the canvas border is not treated as
background, so an object cut by the crop is not eroded from the border.

Hand-drawn trimaps (alphamatting.com's) are not bands of one width: they are narrow along solid edges and
tens of pixels wide over hair. ``random_trimap(uneven_prob=...)`` draws such bands by letting the radius
vary smoothly over the image (a per-pixel radius field), so the net learns wide unknown regions too.
"""

from __future__ import annotations

import cv2
import numpy as np


def make_trimap(alpha: np.ndarray, r_dilate, r_erode) -> np.ndarray:
    """Trimap float32 in {0, 0.5, 1} of ``alpha`` (float in [0, 1], exact 0 and 1 where known).

    ``r_dilate`` and ``r_erode`` are radii in pixels: numbers, or arrays of ``alpha``'s shape (a radius per
    pixel, read where the band ends).
    """
    any_fg = alpha > 0
    full_fg = alpha >= 1
    # distance of each pixel to the nearest pixel of the set (0 inside the set)
    if any_fg.any():
        d_out = cv2.distanceTransform((~any_fg).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        dilated = d_out <= r_dilate
    else:
        dilated = np.zeros_like(any_fg)
    if full_fg.all():
        eroded = full_fg
    elif full_fg.any():
        d_in = cv2.distanceTransform(full_fg.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        eroded = d_in > r_erode
    else:
        eroded = full_fg
    tri = np.zeros(alpha.shape, np.float32)
    tri[dilated] = 0.5
    tri[eroded] = 1.0
    return tri


def radius_field(rng: np.random.Generator, shape: tuple[int, int], spread: float = 2.5, cells: int = 4) -> np.ndarray:
    """Smooth positive multipliers over an image: exp of bicubic-upsampled noise, from 1/spread to spread."""
    grid = rng.uniform(-np.log(spread), np.log(spread), (cells, cells)).astype(np.float32)
    field = cv2.resize(grid, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)
    return np.exp(np.clip(field, -np.log(spread), np.log(spread)))


def random_trimap(rng: np.random.Generator, alpha: np.ndarray,
                  width: tuple[float, float] = (0.01, 0.08), uneven_prob: float = 0.0) -> np.ndarray:
    """Trimap with random band radii: a base radius in ``width`` x canvas side, then r1, r2 jittered apart;
    with probability ``uneven_prob`` each radius also varies over the image (``radius_field``)."""
    side = max(alpha.shape[:2])
    base = rng.uniform(*width) * side
    r1 = max(1.0, base * rng.uniform(0.6, 1.4))
    r2 = max(1.0, base * rng.uniform(0.6, 1.4))
    if rng.random() < uneven_prob:
        r1 = np.maximum(1.0, r1 * radius_field(rng, alpha.shape[:2]))
        r2 = np.maximum(1.0, r2 * radius_field(rng, alpha.shape[:2]))
    return make_trimap(alpha, r1, r2)
