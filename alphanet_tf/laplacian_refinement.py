"""Given-trimap refinement: the net's alpha as a data prior in a closed-form (matting Laplacian) solve.

Closed-form matting (Levin et al. 2008) propagates the trimap's known pixels by local colour-line models
and is good on soft, smooth transitions; the net is better on hard edges and far from known pixels, where
closed-form drifts. Solving both at once, over the trimap's unknown pixels U,

    min_a  a' L a + w * sum_U (a - a_net)^2,   a = trimap on the known pixels,

i.e. (L_UU + w I) a_U = w a_net - L_UK a_K, keeps the net's matte wherever the colour model has no
opinion and follows the colour lines where it has. The prior weight 0.003 was chosen on the 18 training
alphamatting photos with their Trimap1 (band SAD 3.84 net alone, 3.60 at 0.001, 3.52 at 0.003, 3.55 at
0.01, 3.72 at 0.1; MODEL_CARD.md, round 5).

Cost grows with the number of unknown pixels: the solve runs on the bounding box of the unknown band and,
above `REFINE_MAX_SIDE`, on a downscaled copy whose correction is upsampled and added back.
"""

from __future__ import annotations

import cv2
import numpy as np

from alphanet_tf.preprocess import cap_long_side
from alphanet_tf.trimap import split

PRIOR_WEIGHT = 0.003
LAPLACIAN_EPSILON = 1e-7
LAPLACIAN_RADIUS = 1
REFINE_MAX_SIDE = 1500


def unknown_box(unknown: np.ndarray, margin: int):
    """Row and column slices of the bounding box of `unknown`, grown by `margin` (None if none unknown)."""
    rows, cols = np.nonzero(unknown.any(axis=1))[0], np.nonzero(unknown.any(axis=0))[0]
    if rows.size == 0:
        return None
    h, w = unknown.shape
    return (slice(max(rows[0] - margin, 0), min(rows[-1] + margin + 1, h)),
            slice(max(cols[0] - margin, 0), min(cols[-1] + margin + 1, w)))


def solve_with_prior(image: np.ndarray, trimap: np.ndarray, prior: np.ndarray,
                     prior_weight: float = PRIOR_WEIGHT) -> np.ndarray:
    """float RGB HxWx3 in [0, 1], trimap HxW in {0, .5, 1}, prior alpha HxW -> refined alpha HxW (float64).

    Known pixels (trimap 0 or 1) are fixed to the trimap; unknown ones solve the system above.
    """
    import scipy.sparse
    from pymatting import cf_laplacian, cg, ichol

    foreground, unknown, _ = split(trimap)
    alpha = np.where(unknown, prior, foreground).astype(np.float64)
    # Laplacian entries of an unknown pixel reach 2 radii; one more keeps its windows whole inside the box.
    box = unknown_box(unknown, 2 * LAPLACIAN_RADIUS + 1)
    if box is None:
        return alpha
    crop_unknown = unknown[box]
    laplacian = cf_laplacian(np.ascontiguousarray(image[box], np.float64), epsilon=LAPLACIAN_EPSILON,
                             radius=LAPLACIAN_RADIUS, is_known=~crop_unknown).tocsr()
    u = crop_unknown.ravel()
    crop_alpha = alpha[box].ravel()
    rows = laplacian[u]
    system = (rows[:, u] + prior_weight * scipy.sparse.identity(int(u.sum()), format="csr")).tocsr()
    rhs = prior_weight * crop_alpha[u] - rows[:, ~u] @ crop_alpha[~u]
    crop_alpha[u] = cg(system, rhs, x0=crop_alpha[u], M=ichol(system.tocsc()), rtol=1e-7, maxiter=2000)
    alpha[box] = crop_alpha.reshape(crop_unknown.shape)
    return np.clip(alpha, 0.0, 1.0)


def refine_with_laplacian(image: np.ndarray, trimap: np.ndarray, alpha: np.ndarray,
                          prior_weight: float = PRIOR_WEIGHT, max_side: int = REFINE_MAX_SIDE) -> np.ndarray:
    """uint8 RGB HxWx3, trimap float HxW in {0, .5, 1}, alpha float HxW -> refined alpha, float32 HxW.

    Images above `max_side` are solved on a downscaled copy; only the correction is upsampled, so the
    full-resolution matte keeps its own detail, and the trimap's known pixels stay exact.
    """
    h, w = image.shape[:2]
    alpha = np.clip(np.asarray(alpha, np.float32), 0.0, 1.0)
    trimap = np.asarray(trimap, np.float32)
    photo = image.astype(np.float64) / 255.0
    small_photo = cap_long_side(photo, max_side)
    if small_photo.shape[:2] == (h, w):
        return solve_with_prior(photo, trimap, alpha, prior_weight).astype(np.float32)
    sh, sw = small_photo.shape[:2]
    small_trimap = cv2.resize(trimap, (sw, sh), interpolation=cv2.INTER_NEAREST)
    small_alpha = cv2.resize(alpha, (sw, sh), interpolation=cv2.INTER_AREA)
    correction = (solve_with_prior(small_photo, small_trimap, small_alpha, prior_weight) - small_alpha)
    refined = alpha + cv2.resize(correction.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    foreground, _, background = split(trimap)
    refined = np.where(foreground, 1.0, np.where(background, 0.0, refined))
    return np.clip(refined, 0.0, 1.0).astype(np.float32)
