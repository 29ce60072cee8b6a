"""Fills the holes an automatic matte has inside its subject when they show the subject's colours.

Why: the segmentation net, trained on a few hundred photos, leaves holes in clothes and bodies; the ED layer
turns them into unknown patches and the matting net often into alpha 0 (MODEL_CARD.md "Round 6"). Filling
every enclosed hole helps people but hurts objects with real holes (a plant's gaps, a toy's arm loop show
the background). So a hole (pixels with alpha <= 0.5 enclosed by alpha > 0.5) is set to alpha 1 only when
at least `share` of its pixels are closer in Lab colour to the confident foreground around it (alpha > 0.95
within `ring` px) than to the photo's background (alpha < 0.05 outside every hole), each side summarised by
k-means colour centres. Used by the automatic mode of `Matter` / `predict` (`refine`, on by default).
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage

#: share of a hole's pixels that must look like the foreground around it; chosen on training photos only
#: (40 HumanSeg290 + 18 alphamatting: 0.5 / 0.6 / 0.7 -> SAD 29.19 / 29.24 / 29.49 and 30.55 / 30.46 / 30.46,
#: unfilled 29.98 and 30.41, every hole filled 29.19 and 31.06).
SHARE = 0.6
RING = 15
CLUSTERS = 6
SAMPLES = 4000


def colour_centres(pixels: np.ndarray, k: int = CLUSTERS, seed: int = 0) -> np.ndarray:
    """k-means centres (k, 3) of up to `SAMPLES` of `pixels` (N, 3); deterministic for a seed."""
    pixels = pixels[np.random.default_rng(seed).permutation(len(pixels))[:SAMPLES]].astype(np.float32)
    k = min(k, len(pixels))
    cv2.setRNGSeed(seed)
    criteria = (cv2.TERM_CRITERIA_MAX_ITER, 20, 0.1)
    _, _, centres = cv2.kmeans(pixels, k, None, criteria, 2, cv2.KMEANS_PP_CENTERS)
    return centres


def distance_to_nearest(pixels: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Euclidean distance (N,) of each pixel (N, 3) to its nearest centre."""
    diff = pixels[:, None, :].astype(np.float32) - centres[None]
    return np.sqrt((diff * diff).sum(-1)).min(1)


def enclosed_holes(alpha: np.ndarray) -> np.ndarray:
    """Pixels with alpha <= 0.5 that alpha > 0.5 encloses (bool HxW)."""
    subject = alpha > 0.5
    return ndimage.binary_fill_holes(subject) & ~subject


def foreground_holes(image: np.ndarray, alpha: np.ndarray, share: float = SHARE, ring: int = RING) -> np.ndarray:
    """The holes of `alpha` (float32 HxW in [0, 1]) that show the subject's colours (bool HxW); `image` uint8
    RGB HxWx3. None of them when the matte has no background to compare with."""
    holes = enclosed_holes(alpha)
    labels, count = ndimage.label(holes)
    filled = np.zeros_like(holes)
    if count == 0:
        return filled
    lab = cv2.cvtColor(np.ascontiguousarray(image, np.uint8), cv2.COLOR_RGB2LAB)
    background = lab[(alpha < 0.05) & ~holes]
    if len(background) < 50:  # nothing to tell background from: the subject fills the photo
        return filled
    background_centres = colour_centres(background)
    kernel = np.ones((2 * ring + 1, 2 * ring + 1), np.uint8)
    for i, (ys, xs) in enumerate(ndimage.find_objects(labels), start=1):
        window = (slice(max(ys.start - ring, 0), ys.stop + ring), slice(max(xs.start - ring, 0), xs.stop + ring))
        hole = labels[window] == i
        around = cv2.dilate(hole.astype(np.uint8), kernel).astype(bool) & (alpha[window] > 0.95)
        if around.sum() < 20:
            continue
        pixels = lab[window][hole]
        like_foreground = distance_to_nearest(pixels, colour_centres(lab[window][around])) < \
            distance_to_nearest(pixels, background_centres)
        if like_foreground.mean() >= share:
            filled[window] |= hole
    return filled


def fill_foreground_holes(image: np.ndarray, alpha: np.ndarray, share: float = SHARE, ring: int = RING) -> np.ndarray:
    """`alpha` with its `foreground_holes` set to 1: a new array, or `alpha` itself when none is filled."""
    filled = foreground_holes(image, alpha, share, ring)
    return np.where(filled, np.float32(1.0), alpha).astype(alpha.dtype) if filled.any() else alpha
