"""Compositing primitives: placing a layer on a square canvas, backgrounds, colour work, degradations.

All canvases are float32 in [0, 1]: ``fg``/``bg`` (H, W, 3), ``alpha`` (H, W). The composite identity
``image = alpha * fg + (1 - alpha) * bg`` is kept exact by doing every colour change to ``fg`` and ``bg``
before compositing; only ``degrade`` (blur, noise, JPEG: the same for the whole picture, so pasting leaves no
seam) touches the composite afterwards.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from .sources import Layer

cv2.setNumThreads(1)

EPS = 1e-6


def log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    if hi <= lo:
        return float(lo)
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


# ------------------------------------------------------------------------------------------------ placement

def _affine(scale: float, angle_deg: float, src_pt, dst_pt, flip: bool = False) -> np.ndarray:
    """2x3 matrix mapping source (x, y) to canvas (x, y): rotate+scale about src_pt, then move it to dst_pt."""
    a = math.radians(angle_deg)
    c, s = math.cos(a) * scale, math.sin(a) * scale
    lin = np.array([[c, -s], [s, c]], np.float64)
    if flip:
        lin = lin @ np.array([[-1.0, 0.0], [0.0, 1.0]])
    t = np.asarray(dst_pt, np.float64) - lin @ np.asarray(src_pt, np.float64)
    return np.concatenate([lin, t[:, None]], 1)


def place_layer(rng: np.random.Generator, layer: Layer, size: int, mode: str = "edge",
                scale_range: tuple[float, float] = (0.5, 3.0), max_scale: float = 1.5,
                min_scale: float = 0.0, rotate: float = 8.0) -> np.ndarray:
    """Random placement of ``layer`` on a ``size`` x ``size`` canvas; returns a 2x3 affine matrix.

    ``mode="edge"``: a random point of the matte's edge band lands inside the canvas (crops around the unknown
    band); the object's long side becomes ``scale_range`` x size (clamped to ``[min_scale, max_scale]`` x its
    pixel size). ``mode="whole"``: the object fits (mostly) inside the canvas. Borders of the source image that
    the matte touches (an object standing on the bottom edge) are kept outside the canvas where possible so
    no straight cut shows. Rotation (degrees, std) only for layers that touch no border.
    """
    L = layer.long_side
    x0, y0, x1, y1 = layer.bbox
    h, w = layer.alpha.shape
    touches = layer.touches
    lo_s = max(scale_range[0] * size / L, min_scale)
    hi_s = max(min(scale_range[1] * size / L, max_scale), lo_s)
    s = log_uniform(rng, lo_s, hi_s)
    angle = 0.0
    if rotate and not any(touches) and rng.random() < 0.5:
        angle = float(np.clip(rng.normal(0, rotate), -2.5 * rotate, 2.5 * rotate))
    flip = bool(rng.random() < 0.5)
    if mode == "whole":
        s = min(s, 0.95 * size / L) if L * s > 0.95 * size else s
        src_pt = ((x0 + x1) / 2, (y0 + y1) / 2)
        half = L * s / 2
        lo, hi = min(half, size / 2), max(size - half, size / 2)
        dst = [rng.uniform(lo, hi), rng.uniform(lo, hi)]
        M = _affine(s, angle, src_pt, dst, flip)
        return _hide_cut_borders(M, layer, size, touches)
    pts = layer.edge_pts
    best = None
    for _ in range(6):
        p = pts[rng.integers(len(pts))]
        q = rng.uniform(0.15 * size, 0.85 * size, 2)
        M = _affine(s, angle, p, q, flip)
        M2 = _hide_cut_borders(M, layer, size, touches)
        qq = M2[:, :2] @ p + M2[:, 2]
        inside = (0 <= qq[0] < size) and (0 <= qq[1] < size)
        if inside:
            return M2
        best = M2 if best is None else best
    return best


def _hide_cut_borders(M: np.ndarray, layer: Layer, size: int, touches) -> np.ndarray:
    """Shift M so source borders the matte touches map outside the canvas (axis-aligned placements only)."""
    if not any(touches) or abs(M[0, 1]) > 1e-9:
        return M
    M = M.copy()
    h, w = layer.alpha.shape
    sx, sy = M[0, 0], M[1, 1]
    left, top, right, bottom = touches
    # canvas coordinates of the source borders (x = sx * X + tx)
    xs = sorted([(sx * 0 + M[0, 2], "l"), (sx * w + M[0, 2], "r")])
    lo_x, hi_x = xs[0][0], xs[1][0]
    src_left_is_lo = sx > 0
    need_lo = left if src_left_is_lo else right  # border that lies at lo_x must be <= 0
    need_hi = right if src_left_is_lo else left  # border at hi_x must be >= size
    if need_lo and lo_x > 0:
        M[0, 2] -= lo_x
    elif need_hi and hi_x < size:
        M[0, 2] += size - hi_x
    top_y, bot_y = M[1, 2], sy * h + M[1, 2]
    if top and top_y > 0:
        M[1, 2] -= top_y
    elif bottom and bot_y < size:
        M[1, 2] += size - bot_y
    return M


def warp(src: np.ndarray, M: np.ndarray, size: int, border=cv2.BORDER_CONSTANT) -> np.ndarray:
    """``cv2.warpAffine`` of ``src`` onto a size x size canvas, cropping first and pre-shrinking with
    INTER_AREA when the scale is below 0.7 (no aliasing of thin structures)."""
    h, w = src.shape[:2]
    inv = cv2.invertAffineTransform(M)
    corners = np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]], np.float64) @ inv.T
    x0 = max(int(math.floor(corners[:, 0].min())) - 2, 0)
    y0 = max(int(math.floor(corners[:, 1].min())) - 2, 0)
    x1 = min(int(math.ceil(corners[:, 0].max())) + 3, w)
    y1 = min(int(math.ceil(corners[:, 1].max())) + 3, h)
    shape = (size, size) + src.shape[2:]
    if x1 <= x0 or y1 <= y0:
        if border == cv2.BORDER_REPLICATE:
            cx, cy = min(max(x0, 0), w - 1), min(max(y0, 0), h - 1)
            return np.broadcast_to(src[cy, cx], shape).copy()
        return np.zeros(shape, src.dtype)
    crop = src[y0:y1, x0:x1]
    lin = M[:, :2].copy()
    t = lin @ np.array([x0, y0], np.float64) + M[:, 2]
    scale = math.sqrt(abs(np.linalg.det(lin)))
    if scale < 0.7:
        ch, cw = crop.shape[:2]
        nw, nh = max(1, round(cw * scale)), max(1, round(ch * scale))
        crop = cv2.resize(crop, (nw, nh), interpolation=cv2.INTER_AREA)
        if crop.ndim < src.ndim:
            crop = crop[..., None]
        lin = lin @ np.diag([cw / nw, ch / nh])
    M2 = np.concatenate([lin, t[:, None]], 1)
    out = cv2.warpAffine(crop, M2, (size, size), flags=cv2.INTER_LINEAR, borderMode=border, borderValue=0)
    if out.ndim < len(shape):
        out = out[..., None]
    return out


def warp_layer(layer: Layer, M: np.ndarray, size: int):
    """(fg, alpha, bg or None) of ``layer`` on the canvas, float32 in [0, 1]."""
    a = warp(layer.alpha, M, size).astype(np.float32) / 255.0
    fg = warp(layer.fg, M, size, cv2.BORDER_REPLICATE).astype(np.float32) / 255.0
    bg = None
    if layer.bg is not None:
        bg = warp(layer.bg, M, size, cv2.BORDER_REPLICATE).astype(np.float32) / 255.0
    return fg, a, bg


# ---------------------------------------------------------------------------------------------- backgrounds

def random_background(rng: np.random.Generator, img: np.ndarray, size: int,
                      zoom: tuple[float, float] = (0.3, 1.0)) -> np.ndarray:
    """A random square crop of ``img`` (uint8 RGB) resized to size x size, float32 [0, 1], random flip."""
    h, w = img.shape[:2]
    short = min(h, w)
    side = short * rng.uniform(*zoom)
    side = min(max(side, 0.5 * size), short)  # at most 2x upsampling when the photo allows
    side = max(int(round(side)), 1)
    y = int(rng.integers(0, h - side + 1))
    x = int(rng.integers(0, w - side + 1))
    crop = img[y:y + side, x:x + side]
    interp = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    out = cv2.resize(crop, (size, size), interpolation=interp).astype(np.float32) / 255.0
    if rng.random() < 0.5:
        out = out[:, ::-1]
    return np.ascontiguousarray(out)


def defocus(rng: np.random.Generator, img: np.ndarray, sigma: tuple[float, float] = (1.0, 4.0)) -> np.ndarray:
    s = rng.uniform(*sigma)
    return cv2.GaussianBlur(img, (0, 0), s)


# -------------------------------------------------------------------------------------------- colour changes

def colour_jitter(rng: np.random.Generator, img: np.ndarray, strength: float = 1.0) -> np.ndarray:
    """Random brightness, contrast, saturation, per-channel gain (white balance) and gamma; float [0, 1]."""
    gain = rng.uniform(1 - 0.25 * strength, 1 + 0.25 * strength)
    wb = 1 + rng.uniform(-0.08, 0.08, 3) * strength
    contrast = rng.uniform(1 - 0.2 * strength, 1 + 0.2 * strength)
    sat = rng.uniform(1 - 0.3 * strength, 1 + 0.3 * strength)
    gamma = log_uniform(rng, 1 / (1 + 0.25 * strength), 1 + 0.25 * strength)
    # all linear steps folded into one 3x3 colour matrix + offset: x' = A x + b
    lum = np.array([0.299, 0.587, 0.114])
    A = np.diag(gain * wb)
    mean = float(img[::4, ::4].mean()) * gain * float(wb.mean())
    A = contrast * A
    b = np.full(3, (1 - contrast) * mean)
    S = sat * np.eye(3) + (1 - sat) * np.outer(np.ones(3), lum)
    A, b = S @ A, S @ b
    x = cv2.transform(np.ascontiguousarray(img, np.float32), np.concatenate([A, b[:, None]], 1).astype(np.float32))
    np.clip(x, 0, 1, out=x)
    if abs(gamma - 1) > 1e-3:
        x = cv2.pow(x, gamma)
    return x


def harmonise(rng: np.random.Generator, fg: np.ndarray, alpha: np.ndarray, bg: np.ndarray,
              amount: tuple[float, float] = (0.1, 0.5)) -> np.ndarray:
    """Pull the foreground's colour statistics (alpha-weighted mean/std per channel) towards the background's."""
    w = alpha[::4, ::4].reshape(-1).astype(np.float64)
    sw = float(w.sum())
    if sw < 1:
        return fg
    f = fg[::4, ::4].reshape(-1, 3).astype(np.float64)
    mf = (f * w[:, None]).sum(0) / sw
    sf = np.sqrt(((f - mf) ** 2 * w[:, None]).sum(0) / sw) + 1e-3
    b = bg[::4, ::4].reshape(-1, 3)
    mb, sb = b.mean(0), b.std(0) + 1e-3
    t = rng.uniform(*amount)
    scale = 1 + t * (np.clip(sb / sf, 0.5, 2.0) - 1)
    offset = mf + t * (mb - mf) - mf * scale
    M = np.concatenate([np.diag(scale), offset[:, None]], 1).astype(np.float32)
    out = cv2.transform(np.ascontiguousarray(fg, np.float32), M)
    return np.clip(out, 0, 1, out=out)


# ------------------------------------------------------------------------------------------- layer operations

def over(fg_top, a_top, fg_bottom, a_bottom):
    """Layer ``top`` over ``bottom``: returns the combined (fg, alpha), straight colour."""
    at = a_top[..., None]
    ab = a_bottom[..., None]
    a = at + (1 - at) * ab
    prem = at * fg_top + (1 - at) * ab * fg_bottom
    fg = np.where(a > EPS, prem / np.maximum(a, EPS), fg_top)
    return np.clip(fg, 0, 1).astype(np.float32), a[..., 0].astype(np.float32)


def motion_blur(fg: np.ndarray, alpha: np.ndarray, length: float, angle_deg: float):
    """Linear motion blur of a layer (premultiplied, so colours stay right); returns (fg, alpha)."""
    k = max(int(math.ceil(length)) | 1, 3)
    kernel = np.zeros((k, k), np.float32)
    c = k // 2
    a = math.radians(angle_deg)
    dx, dy = math.cos(a) * length / 2, math.sin(a) * length / 2
    cv2.line(kernel, (int(round(c * 16 - dx * 16)), int(round(c * 16 - dy * 16))),
             (int(round(c * 16 + dx * 16)), int(round(c * 16 + dy * 16))), 1.0, 1, cv2.LINE_AA, shift=4)
    kernel /= max(kernel.sum(), EPS)
    prem = cv2.filter2D(fg * alpha[..., None], -1, kernel, borderType=cv2.BORDER_CONSTANT)
    a = cv2.filter2D(alpha, -1, kernel, borderType=cv2.BORDER_CONSTANT)
    fg2 = np.where(a[..., None] > EPS, prem / np.maximum(a[..., None], EPS), fg)
    return np.clip(fg2, 0, 1).astype(np.float32), np.clip(a, 0, 1).astype(np.float32)


def snap_alpha(alpha: np.ndarray, eps: float = 1.0 / 510) -> np.ndarray:
    """Clip to [0, 1] and snap values within ``eps`` of 0 or 1 (interpolation dust) to exactly 0 / 1."""
    a = np.clip(alpha, 0, 1).astype(np.float32)
    a[a < eps] = 0.0
    a[a > 1 - eps] = 1.0
    return a


def composite(fg: np.ndarray, alpha: np.ndarray, bg: np.ndarray) -> np.ndarray:
    a = alpha[..., None]
    return (a * fg + (1 - a) * bg).astype(np.float32)


# ----------------------------------------------------------------------------------------------- degradations

def degrade(rng: np.random.Generator, img: np.ndarray, strength: float = 1.0) -> np.ndarray:
    """Camera-like degradations of the whole composite: blur / resampling, noise, JPEG. float [0, 1]."""
    x = img
    if rng.random() < 0.25 * strength:
        x = cv2.GaussianBlur(x, (0, 0), rng.uniform(0.3, 0.9))
    elif rng.random() < 0.1 * strength:
        h, w = x.shape[:2]
        f = rng.uniform(0.5, 0.9)
        small = cv2.resize(x, (max(1, int(w * f)), max(1, int(h * f))), interpolation=cv2.INTER_AREA)
        x = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.4 * strength:
        sigma = rng.uniform(1.0, 6.0) / 255.0
        if rng.random() < 0.5:
            noise = rng.standard_normal(x.shape[:2], dtype=np.float32)[..., None] * sigma
        else:
            noise = rng.standard_normal(x.shape, dtype=np.float32) * sigma
        x = x + noise
    x = np.clip(x, 0, 1)
    if rng.random() < 0.5 * strength:
        q = int(rng.integers(50, 96))
        u8 = (x * 255 + 0.5).astype(np.uint8)
        ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(u8[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, q])
        if ok:  # (encode as BGR so chroma subsampling acts on the right channels)
            x = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].astype(np.float32) / 255.0
    return x.astype(np.float32)
