"""Procedural foregrounds with soft, thin structure, drawn straight onto a square canvas (numpy + cv2).

* ``hairy_blob``: a textured blob with many thin anti-aliased strands (hair, fur, grass, feathers) of varying
  opacity and colour, drawn at 2x and area-downsampled so strands are sub-pixel thin (soft alpha).
* ``glass``: semi-transparent region (alpha ~0.2-0.7) with a denser rim, smooth variation, highlights,
  sometimes with an opaque part; or a veil / fabric with a folded, textured alpha.
* ``motion_blurred``: an opaque textured shape smeared by linear motion blur.

Each returns ``(fg, alpha)`` float32 in [0, 1] on a ``size`` x ``size`` canvas, positioned so the object's
edge crosses the canvas. ``texture`` may be a photo (uint8 RGB) used to texture fills.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from .composite import motion_blur

cv2.setNumThreads(1)

SS = 2  # supersampling of drawn masks

HAIR_COLOURS = np.array([
    [0.05, 0.04, 0.03], [0.12, 0.08, 0.05], [0.25, 0.16, 0.09], [0.42, 0.28, 0.15], [0.62, 0.47, 0.28],
    [0.85, 0.72, 0.48], [0.55, 0.22, 0.08], [0.55, 0.55, 0.55], [0.9, 0.88, 0.84], [0.3, 0.45, 0.15],
], np.float32)


def smooth_noise(rng: np.random.Generator, size: int, cells: int, channels: int = 1) -> np.ndarray:
    """Low-frequency noise in [0, 1], (size, size[, channels])."""
    cells = max(2, cells)
    small = rng.random((cells, cells, channels), dtype=np.float32)
    out = cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC)
    out = np.clip(out, 0, 1)
    return out if channels > 1 else out.reshape(size, size)


def fill_texture(rng: np.random.Generator, size: int, colour: np.ndarray, texture: np.ndarray | None) -> np.ndarray:
    """A (size, size, 3) fill: a photo crop tinted towards ``colour``, or coloured low-frequency noise."""
    if texture is not None and rng.random() < 0.7:
        h, w = texture.shape[:2]
        side = int(min(h, w) * rng.uniform(0.2, 0.8))
        y, x = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
        tex = cv2.resize(texture[y:y + side, x:x + side], (size, size), interpolation=cv2.INTER_AREA)
        tex = tex.astype(np.float32) / 255.0
        t = rng.uniform(0.0, 0.6)
        lum = tex.mean(-1, keepdims=True)
        out = (1 - t) * tex + t * lum * colour[None, None, :] * 2.0
    else:
        n = smooth_noise(rng, size, int(rng.integers(3, 12)), 1)[..., None]
        fine = smooth_noise(rng, size, int(rng.integers(20, 60)), 1)[..., None]
        out = colour[None, None, :] * (0.6 + 0.5 * n + 0.25 * (fine - 0.5))
    return np.clip(out, 0, 1).astype(np.float32)


def _anchor_centre(rng, size: int, radius: float) -> np.ndarray:
    """A blob centre such that its boundary passes near a random point of the canvas."""
    q = rng.uniform(0.2 * size, 0.8 * size, 2)
    phi = rng.uniform(0, 2 * math.pi)
    d = radius * rng.uniform(0.6, 1.0)
    return q - d * np.array([math.cos(phi), math.sin(phi)]), phi


def _radial_profile(rng, n: int, irregularity: float) -> np.ndarray:
    """Smooth periodic radius multipliers for n angles."""
    k = int(rng.integers(3, 8))
    coef = rng.normal(0, irregularity / np.arange(1, k + 1))
    ph = rng.uniform(0, 2 * math.pi, k)
    th = np.linspace(0, 2 * math.pi, n, endpoint=False)
    prof = 1 + (coef[:, None] * np.cos(np.arange(1, k + 1)[:, None] * th[None] + ph[:, None])).sum(0)
    return np.clip(prof, 0.4, 1.8)


def blob_polygon(rng, centre, radius: float, aspect: float, angle: float, n: int = 96, irregularity=0.25):
    th = np.linspace(0, 2 * math.pi, n, endpoint=False)
    r = radius * _radial_profile(rng, n, irregularity)
    x, y = r * np.cos(th), r * np.sin(th) * aspect
    c, s = math.cos(angle), math.sin(angle)
    pts = np.stack([c * x - s * y, s * x + c * y], 1) + centre
    return pts, th


def _draw_poly_mask(size: int, pts: np.ndarray) -> np.ndarray:
    """Anti-aliased filled polygon, float [0, 1] at canvas resolution (drawn at SS x)."""
    big = np.zeros((size * SS, size * SS), np.uint8)
    cv2.fillPoly(big, [np.round(pts * SS * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
    return cv2.resize(big, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0


def _strand_polylines(rng, starts, dirs, lengths, curl, steps: int = 10, wiggle: float = 0.15):
    """Vectorised random curves: (N, steps + 1, 2) points."""
    n = len(starts)
    ang0 = np.arctan2(dirs[:, 1], dirs[:, 0])
    dang = curl[:, None] + rng.normal(0, wiggle, (n, steps))
    ang = ang0[:, None] + np.cumsum(dang, 1)
    step = (lengths / steps)[:, None]
    d = np.stack([np.cos(ang) * step, np.sin(ang) * step], -1)
    pts = np.concatenate([starts[:, None, :], starts[:, None, :] + np.cumsum(d, 1)], 1)
    return pts


def _draw_strands(size: int, pts: np.ndarray, thickness: int) -> np.ndarray:
    big = np.zeros((size * SS, size * SS), np.uint8)
    polys = [p for p in np.round(pts * SS * 16).astype(np.int32)]
    cv2.polylines(big, polys, False, 255, thickness, cv2.LINE_AA, shift=4)
    return cv2.resize(big, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0


def hairy_blob(rng: np.random.Generator, size: int, texture: np.ndarray | None = None):
    """A textured blob with hair / fur strands; returns (fg, alpha) on a size x size canvas."""
    radius = size * rng.uniform(0.2, 0.7)
    centre, phi = _anchor_centre(rng, size, radius)
    aspect, angle = rng.uniform(0.6, 1.4), rng.uniform(0, math.pi)
    pts, th = blob_polygon(rng, centre, radius, aspect, angle)
    hair = HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))] if rng.random() < 0.8 else rng.random(3).astype(np.float32)
    body_colour = hair if rng.random() < 0.6 else rng.random(3).astype(np.float32)
    body = fill_texture(rng, size, body_colour, texture)
    a = _draw_poly_mask(size, pts)
    prem = body * a[..., None]

    # strands leave the blob from an angular sector (hair) or all round (fur)
    n_pts = len(pts)
    outward = pts - centre
    outward /= np.maximum(np.linalg.norm(outward, axis=1, keepdims=True), 1e-6)
    sector = 2 * math.pi if rng.random() < 0.5 else rng.uniform(0.8, 3.5)
    start_th = phi - sector / 2 - angle  # sector faces the visible part of the boundary
    flow = rng.normal(0, 0.5)  # tangential bias: combed hair
    groups = int(rng.integers(2, 6))
    scale = size / 320.0
    for g in range(groups):
        n = int(rng.integers(60, 400) * max(scale, 0.3))
        # polygon vertex i sits at parameter angle th[i] (before aspect/rotation: close enough for a sector)
        idx = (((start_th + rng.uniform(0, sector, n)) % (2 * math.pi)) / (2 * math.pi) * n_pts).astype(int) % n_pts
        inset = rng.uniform(0.0, 0.35, n)[:, None] * (pts[idx] - centre)
        starts = pts[idx] - inset
        tangent = np.stack([-outward[idx, 1], outward[idx, 0]], 1)
        dirs = outward[idx] + tangent * (flow + rng.normal(0, 0.35, (n, 1)))
        fur = rng.random() < 0.4
        mean_len = radius * (rng.uniform(0.05, 0.2) if fur else rng.uniform(0.15, 0.8))
        lengths = mean_len * rng.lognormal(0, 0.4, n) + inset_len(inset)
        curl = rng.normal(0, 0.08 if not fur else 0.02, n) + rng.normal(0, 0.05)
        strand_pts = _strand_polylines(rng, starts, dirs, lengths, curl, wiggle=rng.uniform(0.02, 0.2))
        thickness = 1 if rng.random() < 0.6 else 2
        mask = _draw_strands(size, strand_pts, thickness)
        opacity = rng.uniform(0.35, 1.0)
        # opacity varies along the canvas (thinning tips, lighter strands)
        ag = mask * opacity * (0.6 + 0.4 * smooth_noise(rng, size, 6))
        colour = np.clip(hair * rng.uniform(0.7, 1.4) + rng.normal(0, 0.04, 3), 0, 1).astype(np.float32)
        shade = 0.75 + 0.5 * smooth_noise(rng, size, int(rng.integers(4, 16)))[..., None]
        col = np.clip(colour[None, None] * shade, 0, 1)
        ag3 = ag[..., None]
        prem = ag3 * col + (1 - ag3) * prem
        a = ag + (1 - ag) * a
    fg = np.where(a[..., None] > 1e-4, prem / np.maximum(a[..., None], 1e-4), body)
    return np.clip(fg, 0, 1).astype(np.float32), np.clip(a, 0, 1).astype(np.float32)


def inset_len(inset: np.ndarray) -> np.ndarray:
    return np.linalg.norm(inset, axis=1)


def glass(rng: np.random.Generator, size: int, texture: np.ndarray | None = None):
    """Semi-transparent object (glass, plastic, veil): alpha mostly in 0.2-0.7; returns (fg, alpha)."""
    radius = size * rng.uniform(0.2, 0.6)
    centre, _ = _anchor_centre(rng, size, radius)
    kind = rng.random()
    if kind < 0.5:  # smooth convex-ish shape (bottle, glass, lens)
        pts, _ = blob_polygon(rng, centre, radius, rng.uniform(0.5, 1.6), rng.uniform(0, math.pi),
                              irregularity=0.08)
    else:  # irregular (plastic bag, veil, smoke)
        pts, _ = blob_polygon(rng, centre, radius, rng.uniform(0.5, 1.5), rng.uniform(0, math.pi),
                              irregularity=0.35)
    shape = _draw_poly_mask(size, pts)
    inside = (shape > 0.5).astype(np.uint8)
    dist = cv2.distanceTransform(inside, cv2.DIST_L2, 3)
    rim_w = size * rng.uniform(0.005, 0.04)
    rim = np.exp(-dist / max(rim_w, 0.5))
    base = rng.uniform(0.15, 0.6)
    var = smooth_noise(rng, size, int(rng.integers(2, 6))) - 0.5
    if rng.random() < 0.4:  # veil / fabric folds
        ang = rng.uniform(0, math.pi)
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
        freq = rng.uniform(4, 20) / size * 2 * math.pi
        folds = np.sin((xx * math.cos(ang) + yy * math.sin(ang)) * freq + 3 * var)
        inner = base + 0.15 * folds + 0.2 * var
    else:
        inner = base + 0.25 * var
    a_in = np.clip(inner + rng.uniform(0.1, 0.5) * rim, 0.05, 0.95)
    alpha = shape * a_in
    tint = np.clip(rng.uniform(0.5, 1.0, 3) if rng.random() < 0.7 else rng.random(3), 0, 1).astype(np.float32)
    if rng.random() < 0.3:
        tint = tint * rng.uniform(0.1, 0.4)  # smoked / dark glass
    fg = fill_texture(rng, size, tint, None) * 0.5 + tint * 0.5
    # specular highlights: bright soft streaks with higher opacity
    if rng.random() < 0.7:
        hl = np.zeros((size, size), np.float32)
        for _ in range(int(rng.integers(1, 4))):
            p0 = centre + rng.normal(0, radius * 0.4, 2)
            p1 = p0 + rng.normal(0, radius * 0.4, 2)
            cv2.line(hl, tuple(int(v) for v in p0), tuple(int(v) for v in p1), 1.0,
                     int(max(1, size * rng.uniform(0.005, 0.03))), cv2.LINE_AA)
        hl = cv2.GaussianBlur(hl, (0, 0), size * 0.006 + 0.5) * shape
        hl = np.clip(hl * rng.uniform(0.5, 1.0), 0, 1)
        fg = fg * (1 - hl[..., None]) + hl[..., None]
        alpha = alpha + (1 - alpha) * hl * 0.8
    # sometimes an opaque part (label, cap, handle)
    if rng.random() < 0.3:
        p2, _ = blob_polygon(rng, centre + rng.normal(0, radius * 0.3, 2), radius * rng.uniform(0.2, 0.5),
                             rng.uniform(0.3, 1.0), rng.uniform(0, math.pi), irregularity=0.05)
        solid = _draw_poly_mask(size, p2) * shape
        col = fill_texture(rng, size, rng.random(3).astype(np.float32), texture)
        fg = fg * (1 - solid[..., None]) + col * solid[..., None]
        alpha = alpha + (1 - alpha) * solid
    return np.clip(fg, 0, 1).astype(np.float32), np.clip(alpha, 0, 1).astype(np.float32)


def motion_blurred(rng: np.random.Generator, size: int, texture: np.ndarray | None = None):
    """An opaque textured shape with linear motion blur; returns (fg, alpha)."""
    radius = size * rng.uniform(0.15, 0.5)
    centre, _ = _anchor_centre(rng, size, radius)
    pts, _ = blob_polygon(rng, centre, radius, rng.uniform(0.4, 1.5), rng.uniform(0, math.pi),
                          irregularity=rng.uniform(0.05, 0.4))
    a = _draw_poly_mask(size, pts)
    fg = fill_texture(rng, size, rng.random(3).astype(np.float32), texture)
    return motion_blur(fg, a, size * rng.uniform(0.02, 0.12), rng.uniform(0, 180))


GENERATORS = {"hair": hairy_blob, "glass": glass, "motion": motion_blurred}
WEIGHTS = {"hair": 0.6, "glass": 0.25, "motion": 0.15}


def random_procedural(rng: np.random.Generator, size: int, texture: np.ndarray | None = None):
    names = list(WEIGHTS)
    p = np.array([WEIGHTS[n] for n in names])
    name = names[rng.choice(len(names), p=p / p.sum())]
    return GENERATORS[name](rng, size, texture)
