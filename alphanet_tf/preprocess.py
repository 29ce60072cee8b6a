"""Cap, pad and normalise an image for the network, and undo it on the outputs: the ONE copy.

The CLI, the exporters, the mobile demo and the benchmarks all call these functions, so every runtime sees
exactly the same input. No TensorFlow here (the mobile demo imports this module alone): numpy and OpenCV.

The network itself takes RGB float32 in [0, 255] and normalises inside the graph (ImageNormalization), so
"normalise" here means only the cast; the mean/std live in one place, the model.

Example:
    x, geom = prepare(image_uint8)                  # (Hp, Wp, 3) float32, multiple of 32
    alpha_small = run_network(x[None])[0, ..., 0]   # any runtime
    alpha = restore(alpha_small, geom, guide=image_uint8)  # (H, W) float32 at the input's size
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Long side the network sees by default; the matte is upsampled back edge-aware. The shipped model, trained on
# 256 px crops, mattes better at 512 than at full size (MODEL_CARD.md: automatic SAD 35.0 vs 45.6 on the
# alphamatting.com validation images, 33.7 vs 37.4 on HumanSeg290), and 4-9x faster on 1-1.5 MP photos.
DEFAULT_MAX_SIDE = 512
# With a given trimap the band is fixed by the user, and the matting stage is better at full detail
# (MODEL_CARD.md: band SAD 9.24 at 1500 px vs 10.27 at 512 on the alphamatting.com validation images).
TRIMAP_MAX_SIDE = 1500
MULTIPLE = 32


def working_side(max_side, given_trimap: bool) -> int:
    """The long side the network sees: `max_side`, or when it is None the default of the mode."""
    if max_side is not None:
        return max_side
    return TRIMAP_MAX_SIDE if given_trimap else DEFAULT_MAX_SIDE


@dataclass(frozen=True)
class Geometry:
    """Everything needed to map network outputs back to the input image."""

    size: tuple[int, int]  # (h, w) of the original image
    scaled_size: tuple[int, int]  # (h, w) after capping the long side
    pad: tuple[int, int, int, int]  # (top, bottom, left, right) reflect padding added after capping

    @property
    def padded_size(self) -> tuple[int, int]:
        t, b, l, r = self.pad
        return self.scaled_size[0] + t + b, self.scaled_size[1] + l + r

    @property
    def scaled(self) -> bool:
        return self.scaled_size != self.size


def capped_size(size, max_side=DEFAULT_MAX_SIDE) -> tuple[int, int]:
    """(h, w) with the long side at most `max_side`, aspect kept (None or 0: no cap)."""
    h, w = size
    if not max_side or max(h, w) <= max_side:
        return int(h), int(w)
    scale = max_side / max(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))


def cap_long_side(image: np.ndarray, max_side=DEFAULT_MAX_SIDE) -> np.ndarray:
    """Downscales (INTER_AREA: no aliasing) so the long side is at most `max_side`."""
    h, w = capped_size(image.shape[:2], max_side)
    if (h, w) == image.shape[:2]:
        return image
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)


def pad_amounts(size, multiple=MULTIPLE) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) that pad `size` up to a multiple, split about evenly."""
    h, w = size
    ph, pw = -h % multiple, -w % multiple
    return ph // 2, ph - ph // 2, pw // 2, pw - pw // 2


def pad_reflect(x: np.ndarray, pad) -> np.ndarray:
    """Reflect padding (edge pixel not repeated), also when the pad is larger than the image."""
    t, b, l, r = pad
    if not any(pad):
        return x
    return cv2.copyMakeBorder(x, t, b, l, r, cv2.BORDER_REFLECT_101)


def crop_padding(x: np.ndarray, geom: Geometry) -> np.ndarray:
    """Removes the padding from an (Hp, Wp, ...) output, giving the capped size."""
    t, _, l, _ = geom.pad
    h, w = geom.scaled_size
    return x[t : t + h, l : l + w]


def prepare(image: np.ndarray, max_side=DEFAULT_MAX_SIDE, multiple=MULTIPLE):
    """uint8 RGB HxWx3 -> (float32 Hp x Wp x 3 in [0, 255], Geometry)."""
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an RGB image of shape (H, W, 3), got {image.shape}")
    scaled = cap_long_side(image, max_side)
    pad = pad_amounts(scaled.shape[:2], multiple)
    x = pad_reflect(scaled, pad).astype(np.float32)
    return x, Geometry(tuple(image.shape[:2]), tuple(scaled.shape[:2]), pad)


def prepare_map(values: np.ndarray, geom: Geometry) -> np.ndarray:
    """Applies the same cap and padding to a per-pixel map (a trimap): nearest resize keeps its levels."""
    h, w = geom.scaled_size
    if values.shape[:2] != (h, w):
        values = cv2.resize(values, (w, h), interpolation=cv2.INTER_NEAREST)
    return pad_reflect(values.astype(np.float32), geom.pad)


def box(x: np.ndarray, r: int) -> np.ndarray:
    """Mean over a (2r+1)^2 window (normalised box filter, borders reflected)."""
    return cv2.boxFilter(x, -1, (2 * r + 1, 2 * r + 1), borderType=cv2.BORDER_REFLECT_101)


def guided_filter_coefficients(guide: np.ndarray, src: np.ndarray, r: int, eps: float):
    """Colour guided filter (He et al.): per-pixel linear model src ~ a . guide + b over a window.

    guide float32 HxWx3 in [0, 1], src float32 HxW. Returns (a HxWx3, b HxW), already box-averaged, so
    that the output is `sum(a * guide, -1) + b` at this or (after resizing a, b) any other resolution.
    """
    mean_i = box(guide, r)
    mean_p = box(src, r)
    mean_ip = box(guide * src[..., None], r)
    cov_ip = mean_ip - mean_i * mean_p[..., None]
    # Covariance of the guide per pixel: 6 distinct entries of a symmetric 3x3 matrix, plus eps on the diagonal.
    idx = [(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)]
    prods = np.stack([guide[..., i] * guide[..., j] for i, j in idx], axis=-1)
    mean_prods = box(prods, r)
    var = {
        (i, j): mean_prods[..., k] - mean_i[..., i] * mean_i[..., j] + (eps if i == j else 0.0)
        for k, (i, j) in enumerate(idx)
    }
    s = lambda i, j: var[(min(i, j), max(i, j))]  # noqa: E731
    # Closed-form inverse of the symmetric 3x3 matrix (cofactors / determinant), vectorised.
    c00 = s(1, 1) * s(2, 2) - s(1, 2) ** 2
    c01 = s(0, 2) * s(1, 2) - s(0, 1) * s(2, 2)
    c02 = s(0, 1) * s(1, 2) - s(0, 2) * s(1, 1)
    c11 = s(0, 0) * s(2, 2) - s(0, 2) ** 2
    c12 = s(0, 1) * s(0, 2) - s(0, 0) * s(1, 2)
    c22 = s(0, 0) * s(1, 1) - s(0, 1) ** 2
    det = s(0, 0) * c00 + s(0, 1) * c01 + s(0, 2) * c02
    inv = np.stack([c00, c01, c02, c01, c11, c12, c02, c12, c22], axis=-1).reshape(*det.shape, 3, 3)
    inv /= det[..., None, None]
    a = np.einsum("hwij,hwj->hwi", inv, cov_ip).astype(np.float32)
    b = mean_p - np.sum(a * mean_i, axis=-1)
    return box(a, r), box(b.astype(np.float32), r)


def guided_upsample(alpha: np.ndarray, guide: np.ndarray, r: int = 2, eps: float = 1e-3) -> np.ndarray:
    """Resizes a low-resolution alpha to the guide's size, following the guide's edges.

    Fast guided filter (He & Sun 2015): fit the linear model at the alpha's resolution against a
    downscaled guide, upsample only the smooth coefficients, apply them to the full-resolution guide. Edges
    stay as sharp as in the photo, where plain bilinear upsampling smears them over the scale factor.
    """
    h, w = guide.shape[:2]
    ah, aw = alpha.shape[:2]
    guide_f = guide.astype(np.float32) / (255.0 if guide.dtype == np.uint8 else 1.0)
    if (ah, aw) == (h, w):
        return np.clip(alpha, 0.0, 1.0).astype(np.float32)
    small = cv2.resize(guide_f, (aw, ah), interpolation=cv2.INTER_AREA)
    a, b = guided_filter_coefficients(small, alpha.astype(np.float32), r, eps)
    a_up = cv2.resize(a, (w, h), interpolation=cv2.INTER_LINEAR)
    b_up = cv2.resize(b, (w, h), interpolation=cv2.INTER_LINEAR)
    out = np.sum(a_up * guide_f, axis=-1) + b_up
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def restore(output: np.ndarray, geom: Geometry, guide: np.ndarray | None = None, edge_aware=True):
    """Network output at the padded size (Hp x Wp or Hp x Wp x 1) -> float32 H x W at the input's size.

    Crops the padding, then, if the image was capped, upsamples with the full-resolution image as guide
    (`edge_aware`, for alpha) or bilinearly (for coarse maps like the segmentation).
    """
    out = np.asarray(output, np.float32)
    if out.ndim == 3:
        out = out[..., 0]
    if out.shape != geom.padded_size:
        raise ValueError(f"output of shape {out.shape} does not match the padded size {geom.padded_size}")
    out = crop_padding(out, geom)
    if not geom.scaled:
        return np.ascontiguousarray(out)
    h, w = geom.size
    if edge_aware and guide is not None:
        return guided_upsample(out, guide)
    return cv2.resize(out, (w, h), interpolation=cv2.INTER_LINEAR)


def restore_trimap(trimap: np.ndarray, geom: Geometry) -> np.ndarray:
    """Trimap output -> input size, nearest-neighbour so it keeps exactly the levels {0, 0.5, 1}."""
    out = crop_padding(np.asarray(trimap, np.float32).reshape(geom.padded_size), geom)
    if not geom.scaled:
        return np.ascontiguousarray(out)
    h, w = geom.size
    return cv2.resize(out, (w, h), interpolation=cv2.INTER_NEAREST)
