"""Matting and segmentation metrics (numpy/scipy only, no TensorFlow).

The matting metrics follow the Deep Image Matting (Composition-1k) evaluation code by Ning Xu,
so our numbers are comparable with published tables:

- SAD  = sum |alpha - gt| over the region / 1000
- MSE  = sum (alpha - gt)^2 over the region / number of pixels in the region
- Grad = sum over the region of (|grad alpha| - |grad gt|)^2 / 1000, with first-order Gaussian
  derivative filters (sigma 1.4) on min-max normalised mattes
- Conn = sum over the region |phi(alpha) - phi(gt)| / 1000 (thresholds 0, 0.1, ..., 1; theta 0.15)

Gradients and connected components are always computed on the whole image; the region only selects
which pixels are summed. The region is the trimap's unknown band (value 128) or the whole image.

The AlphaNet paper instead averages every metric per pixel over the whole image
(``matting_metrics_per_pixel``). Both forms come from the same per-pixel error maps.

Inputs are 2-D arrays: uint8 (divided by 255), uint16 (divided by 65535), bool, or float in [0, 1].
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from alphanet_tf.trimap import dim_unknown

MATTING_KEYS = ("sad", "mse", "grad", "conn")
SEGMENTATION_KEYS = ("iou", "f_measure", "mae")
DIM_SCALE = 1000.0  # DIM reports SAD, Grad and Conn in thousands
_DIM_MEAN_KEYS = {"mse"}  # metrics DIM averages over the region instead of dividing by 1000


# ----------------------------------------------------------------------------- input handling
def to_float(x, name: str = "array") -> np.ndarray:
    """Returns a 2-D float64 array in [0, 1], so callers may pass uint8 images or floats alike."""
    a = np.asarray(x)
    if a.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (H, W) array, got shape {a.shape}")
    if a.dtype == np.bool_:
        return a.astype(np.float64)
    if a.dtype == np.uint8:
        return a / 255.0
    if a.dtype == np.uint16:
        return a / 65535.0
    if not np.issubdtype(a.dtype, np.floating):
        raise ValueError(f"{name} must be uint8, uint16, bool or float, got dtype {a.dtype}")
    a = a.astype(np.float64)
    if a.size and (not np.isfinite(a).all() or a.min() < -1e-6 or a.max() > 1 + 1e-6):
        raise ValueError(
            f"{name} (float) must lie in [0, 1], got range [{a.min():.4g}, {a.max():.4g}]"
        )
    return np.clip(a, 0.0, 1.0)


def check_same_shape(**arrays) -> None:
    """Raises ValueError naming every shape when the arrays do not share one (H, W)."""
    shapes = {k: np.shape(v) for k, v in arrays.items() if v is not None}
    if len(set(shapes.values())) > 1:
        listed = ", ".join(f"{k} {s}" for k, s in shapes.items())
        raise ValueError(f"shape mismatch: {listed}")


def _pair(alpha, gt, region=None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Converts a prediction/ground-truth pair (and optional region) after checking the shapes."""
    check_same_shape(alpha=alpha, gt=gt, region=region)
    a, g = to_float(alpha, "alpha"), to_float(gt, "gt")
    if region is not None:
        region = np.asarray(region)
        if region.dtype != np.bool_:
            raise ValueError(f"region must be a boolean mask, got dtype {region.dtype}")
    return a, g, region


def unknown_region(trimap) -> np.ndarray:
    """Boolean mask of the trimap's unknown band.

    uint8 trimaps use DIM's exact rule (value == 128); float trimaps in [0, 1] accept 0.5 and
    128/255 (the model's {0, 0.5, 1} trimap and a /255 uint8 trimap).
    """
    t = np.asarray(trimap)
    if t.ndim != 2:
        raise ValueError(f"trimap must be a 2-D (H, W) array, got shape {t.shape}")
    return dim_unknown(t if t.dtype == np.uint8 else to_float(t, "trimap"))


def _reduce(error_map: np.ndarray, region: np.ndarray | None, mean: bool) -> float:
    """Sums an error map over the region, then divides by the pixel count (mean) or by 1000.

    An empty region has no error: it returns 0.0 rather than NaN, so dataset means stay finite.
    """
    values = error_map if region is None else error_map[region]
    if not mean:
        return float(values.sum() / DIM_SCALE)
    return float(values.sum() / values.size) if values.size else 0.0


# ----------------------------------------------------------------------------- error maps
def _mat2gray(x: np.ndarray) -> np.ndarray:
    """Min-max normalises to [0, 1] as MATLAB's mat2gray; a constant image becomes zeros."""
    lo, hi = x.min(), x.max()
    return (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)


def _gauss(x: np.ndarray, sigma: float) -> np.ndarray:
    return np.exp(-(x**2) / (2 * sigma**2)) / (sigma * math.sqrt(2 * math.pi))


def gaussian_derivative_kernel(sigma: float = 1.4) -> np.ndarray:
    """DIM's x-derivative kernel: Gaussian along rows times its derivative along columns.

    The half size is where the Gaussian falls to 1 % of its peak (epsilon 1e-2), and the kernel is
    scaled to unit L2 norm, as in the reference ``gaussgradient``.
    """
    half = math.ceil(sigma * math.sqrt(-2 * math.log(math.sqrt(2 * math.pi) * sigma * 1e-2)))
    u = np.arange(-half, half + 1, dtype=np.float64)
    dgauss = -u * _gauss(u, sigma) / sigma**2
    hx = np.outer(_gauss(u, sigma), dgauss)
    return hx / np.sqrt((hx**2).sum())


def gradient_magnitude(x: np.ndarray, sigma: float = 1.4) -> np.ndarray:
    """Gradient amplitude by Gaussian derivative filters (true convolution, replicated borders)."""
    hx = gaussian_derivative_kernel(sigma)
    gx = ndimage.convolve(x, hx, mode="nearest")
    gy = ndimage.convolve(x, hx.T, mode="nearest")
    return np.sqrt(gx**2 + gy**2)


def gradient_error_map(alpha, gt, sigma: float = 1.4) -> np.ndarray:
    """Per-pixel (|grad alpha| - |grad gt|)^2 after min-max normalising each matte."""
    a, g, _ = _pair(alpha, gt)
    diff = gradient_magnitude(_mat2gray(a), sigma) - gradient_magnitude(_mat2gray(g), sigma)
    return diff**2


def _largest_component(mask: np.ndarray) -> np.ndarray:
    """Largest 4-connected component; ties go to the first in column-major order (MATLAB's
    bwconncomp numbering), hence labelling the transpose. An empty mask gives an empty result."""
    labels, count = ndimage.label(mask.T)  # default 2-D structure = 4-connectivity
    if count == 0:
        return np.zeros_like(mask)
    sizes = np.bincount(labels.ravel())[1:]
    return (labels == 1 + int(np.argmax(sizes))).T


def connectivity_error_map(alpha, gt, step: float = 0.1, theta: float = 0.15) -> np.ndarray:
    """Per-pixel |phi(alpha) - phi(gt)| of DIM's connectivity error.

    For each pixel, l is the last threshold at which it still belonged to the largest connected
    component of (alpha >= t) & (gt >= t); phi = 1 - d * (d >= theta) with d = value - l. Computed in
    float32 like the reference (MATLAB ``single``), which also makes k/255 vs k/10 ties exact.
    """
    a, g, _ = _pair(alpha, gt)
    a, g = a.astype(np.float32), g.astype(np.float32)
    n_steps = int(round(1.0 / step))
    thresholds = np.round(np.arange(n_steps + 1) * step, 10).astype(np.float32)
    level = np.full(a.shape, -1.0, dtype=np.float32)
    for previous, t in zip(thresholds[:-1], thresholds[1:]):
        omega = _largest_component((a >= t) & (g >= t))
        level[(level == -1) & ~omega] = previous
    level[level == -1] = 1.0

    def phi(x: np.ndarray) -> np.ndarray:
        d = x - level
        return 1.0 - d * (d >= theta)

    return np.abs(phi(a) - phi(g)).astype(np.float64)


def matting_error_maps(alpha, gt) -> dict[str, np.ndarray]:
    """All four per-pixel error maps (keys sad, mse, grad, conn), computed once and reduced by
    ``reduce_error_maps`` in DIM or per-pixel form."""
    a, g, _ = _pair(alpha, gt)
    return {
        "sad": np.abs(a - g),
        "mse": (a - g) ** 2,
        "grad": gradient_error_map(a, g),
        "conn": connectivity_error_map(a, g),
    }


def reduce_error_maps(
    maps: dict[str, np.ndarray], region: np.ndarray | None = None, per_pixel: bool = False
) -> dict[str, float]:
    """Reduces error maps over a region: DIM convention (/1000, MSE averaged) or, with
    ``per_pixel``, every metric averaged over the region's pixels (AlphaNet paper)."""
    return {k: _reduce(m, region, per_pixel or k in _DIM_MEAN_KEYS) for k, m in maps.items()}


# ----------------------------------------------------------------------------- matting metrics
def sad(alpha, gt, region=None) -> float:
    """Sum of absolute differences over the region, in thousands (DIM)."""
    a, g, region = _pair(alpha, gt, region)
    return _reduce(np.abs(a - g), region, mean=False)


def mse(alpha, gt, region=None) -> float:
    """Mean squared error over the region's pixels (DIM)."""
    a, g, region = _pair(alpha, gt, region)
    return _reduce((a - g) ** 2, region, mean=True)


def gradient_error(alpha, gt, region=None, sigma: float = 1.4) -> float:
    """DIM gradient error over the region, in thousands."""
    _, _, region = _pair(alpha, gt, region)
    return _reduce(gradient_error_map(alpha, gt, sigma), region, mean=False)


def connectivity_error(alpha, gt, region=None, step: float = 0.1, theta: float = 0.15) -> float:
    """DIM connectivity error over the region, in thousands."""
    _, _, region = _pair(alpha, gt, region)
    return _reduce(connectivity_error_map(alpha, gt, step, theta), region, mean=False)


def resolve_region(trimap=None, region: str | None = None) -> np.ndarray | None:
    """Turns a region name into a mask: "unknown" needs a trimap; None picks "unknown" when a
    trimap is given and "whole" otherwise. "whole" returns None (every pixel)."""
    if region is None:
        region = "unknown" if trimap is not None else "whole"
    if region == "whole":
        return None
    if region != "unknown":
        raise ValueError(f"region must be 'unknown' or 'whole', got {region!r}")
    if trimap is None:
        raise ValueError("region 'unknown' needs a trimap")
    return unknown_region(trimap)


def matting_metrics(
    alpha, gt, trimap=None, region: str | None = None, per_pixel: bool = False
) -> dict[str, float]:
    """SAD, MSE, Grad and Conn (keys sad, mse, grad, conn) in DIM convention.

    Args:
        alpha: predicted matte (H, W).
        gt: ground-truth matte (H, W).
        trimap: optional trimap (H, W); 128 (or 0.5) marks the unknown band.
        region: "unknown", "whole", or None (= "unknown" if a trimap is given, else "whole").
        per_pixel: average every metric over the region's pixels instead of DIM's /1000.
    """
    check_same_shape(alpha=alpha, gt=gt, trimap=trimap)
    mask = resolve_region(trimap, region)
    return reduce_error_maps(matting_error_maps(alpha, gt), mask, per_pixel)


def matting_metrics_per_pixel(alpha, gt) -> dict[str, float]:
    """The AlphaNet paper's form: every metric averaged per pixel over the whole image."""
    return matting_metrics(alpha, gt, region="whole", per_pixel=True)


# ----------------------------------------------------------------------------- segmentation
def as_mask(x, name: str = "mask") -> np.ndarray:
    """Boolean mask: any value > 0 is foreground (label maps such as Penn-Fudan's 0/1/2 work).
    Probabilities should go through ``segmentation_metrics``, which thresholds them."""
    a = np.asarray(x)
    if a.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (H, W) array, got shape {a.shape}")
    return a > 0


def iou(pred_mask, gt_mask) -> float:
    """Intersection over union of two masks; two empty masks agree perfectly (1.0)."""
    check_same_shape(pred=pred_mask, gt=gt_mask)
    p, g = as_mask(pred_mask, "pred"), as_mask(gt_mask, "gt")
    union = np.count_nonzero(p | g)
    return float(np.count_nonzero(p & g) / union) if union else 1.0


def f_measure(pred, gt, beta2: float = 0.3) -> float:
    """F-beta of a binary prediction, beta^2 = 0.3 as in salient object detection (favours
    precision). Two empty masks give 1.0; no true positive otherwise gives 0.0."""
    check_same_shape(pred=pred, gt=gt)
    p, g = as_mask(pred, "pred"), as_mask(gt, "gt")
    if not p.any() and not g.any():
        return 1.0
    tp = np.count_nonzero(p & g)
    if tp == 0:
        return 0.0
    precision, recall = tp / np.count_nonzero(p), tp / np.count_nonzero(g)
    return float((1 + beta2) * precision * recall / (beta2 * precision + recall))


def mae(prob, gt) -> float:
    """Mean absolute error between a probability map and a (binary or soft) ground truth."""
    p, g, _ = _pair(prob, gt)
    return float(np.abs(p - g).mean()) if p.size else 0.0


def segmentation_metrics(prob, gt, threshold: float = 0.5) -> dict[str, float]:
    """IoU and F-measure of ``prob >= threshold`` plus MAE of ``prob`` (keys iou, f_measure, mae).

    ``gt`` is a mask: any value > 0 is foreground.
    """
    check_same_shape(prob=prob, gt=gt)
    p = to_float(prob, "prob")
    g = as_mask(gt, "gt")
    pred = p >= threshold
    return {"iou": iou(pred, g), "f_measure": f_measure(pred, g), "mae": mae(p, g)}


__all__ = [
    "MATTING_KEYS",
    "SEGMENTATION_KEYS",
    "to_float",
    "check_same_shape",
    "unknown_region",
    "resolve_region",
    "gaussian_derivative_kernel",
    "gradient_magnitude",
    "gradient_error_map",
    "connectivity_error_map",
    "matting_error_maps",
    "reduce_error_maps",
    "sad",
    "mse",
    "gradient_error",
    "connectivity_error",
    "matting_metrics",
    "matting_metrics_per_pixel",
    "as_mask",
    "iou",
    "f_measure",
    "mae",
    "segmentation_metrics",
]
