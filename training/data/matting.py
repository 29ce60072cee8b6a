"""Matting samples: composites with exact alpha, foreground and background, plus a random trimap.

Sources (``MattingSampler.mix``; a source with no data gets weight 0 and the rest renormalise):

* ``alphamatting``: an alphamatting.com foreground (real soft matte, pymatting FG colours) over a random
  background photo.
* ``cutout``: a cut-out (``fetch.sh data``) over a random background photo.
* ``procedural``: hair / fur strands, glass-like semi-transparency, motion blur (``procedural.py``).
* ``real``: an alphamatting photo in its own scene (image recomposed from its estimated FG/BG, which
  reproduces the photo to ~0.0002 mean error), cropped around the matte's edge.
* ``official_trimap_prob``: alphamatting samples (composites and scenes) take one of the photo's own
  hand-drawn trimaps (Trimap1 / Trimap2, warped with the crop) instead of a random one: the band style a user
  draws, training split only like everything else.
* ``native_scale_prob``: alphamatting samples at 0.7-1.4x their pixel size (the scale a user's photo is
  matted at with a given trimap) instead of the wide random scale.
* people: RVM pseudo-labels constrained by the GT mask (``pseudo_labels.py``), in their own scene; taken
  with probability ``people_weight`` when the cache exists (training split only).

Composites get independent colour jitter of FG and BG, partial colour harmonisation of the FG towards the
BG, optional defocus of the BG, an occasional motion blur of the FG, occasionally a second pasted object
(everything pasted is foreground: alpha and FG are the exact layered result), then a shared horizontal flip
and shared post-composite degradations (blur, noise, JPEG) so pasting leaves no seam.
"""

from __future__ import annotations

import cv2
import numpy as np

from . import composite as C
from .procedural import random_procedural
from .sources import (OFFICIAL_TRIMAPS, Pools, load_alphamatting, load_alphamatting_trimap, load_background,
                      load_cutout, load_people_label)
from .trimap import random_trimap

cv2.setNumThreads(1)

DEFAULT_MIX = {"alphamatting": 0.35, "cutout": 0.25, "procedural": 0.25, "real": 0.15}


class MattingSampler:
    """Callable ``sampler(rng) -> (image, trimap, target)`` for one split.

    Returns float32 ``image`` (crop, crop, 3) in [0, 255], ``trimap`` (crop, crop, 1) in {0, 0.5, 1} and
    ``target`` (crop, crop, 7) = [alpha, fg RGB, bg RGB] in [0, 1]. With ``degrade=False``,
    ``image / 255 == alpha * fg + (1 - alpha) * bg`` exactly (float32 rounding).
    """

    def __init__(self, pools: Pools, crop: int = 320, degrade: bool = True, people_weight: float = 0.25,
                 mix: dict | None = None, distractor_prob: float = 0.2,
                 trimap_width: tuple[float, float] = (0.01, 0.08), whole_prob: float = 0.2,
                 scene_whole_prob: float = 0.0, uneven_trimap_prob: float = 0.0,
                 official_trimap_prob: float = 0.0, native_scale_prob: float = 0.0):
        self.pools, self.crop, self.degrade = pools, int(crop), bool(degrade)
        mix = dict(DEFAULT_MIX if mix is None else mix)
        if not pools.cutouts:
            mix["cutout"] = 0.0
        if not pools.alphamatting:
            mix["alphamatting"] = mix["real"] = 0.0
        self.names = [k for k, v in mix.items() if v > 0]
        p = np.array([mix[k] for k in self.names], np.float64)
        self.p = p / p.sum()
        self.people_weight = float(people_weight) if pools.people else 0.0
        self.distractor_prob = distractor_prob
        self.trimap_width, self.uneven_trimap_prob = trimap_width, float(uneven_trimap_prob)
        # Crops around the matte's edge suit a net given a trimap; a trimap-free net (HAttMatting) must also
        # see whole objects to learn what is foreground: composites placed whole, scenes at their widest.
        self.whole_prob, self.scene_whole_prob = float(whole_prob), float(scene_whole_prob)
        self.official_trimap_prob, self.native_scale_prob = float(official_trimap_prob), float(native_scale_prob)

    # ------------------------------------------------------------------------------------------ helpers
    def _background(self, rng, size, pool=None):
        pool = pool or self.pools.backgrounds
        _, path = pool[rng.integers(len(pool))]
        img = load_background(path)
        bg = C.random_background(rng, img, size)
        if rng.random() < 0.25:
            bg = C.defocus(rng, bg)
        return bg

    def _texture(self, rng):
        _, path = self.pools.backgrounds[rng.integers(len(self.pools.backgrounds))]
        return load_background(path)

    def _random_cutout(self, rng):
        for _ in range(8):
            layer = load_cutout(self.pools.cutouts[rng.integers(len(self.pools.cutouts))])
            if layer is not None:
                return layer
        return None

    def _native_scale(self, rng, layer, size):
        """(scale_range, max_scale) placing `layer` at 0.7-1.4x its pixel size, with `native_scale_prob`."""
        if self.native_scale_prob > 0 and rng.random() < self.native_scale_prob:
            return (0.7 * layer.long_side / size, 1.4 * layer.long_side / size), 1.4
        return None

    def _official_trimap(self, rng, stem, M, size):
        """One of the photo's hand-drawn trimaps warped onto the canvas ({0, 0.5, 1}; resampled edges unknown),
        with `official_trimap_prob`; else None."""
        if not (self.official_trimap_prob > 0 and rng.random() < self.official_trimap_prob):
            return None
        which = OFFICIAL_TRIMAPS[rng.integers(len(OFFICIAL_TRIMAPS))]
        t = C.warp(load_alphamatting_trimap(self.pools.root, stem, which), M, size).astype(np.float32) / 255.0
        return np.where(t < 0.1, 0.0, np.where(t > 0.9, 1.0, 0.5)).astype(np.float32)

    def _object(self, rng, kind: str, size: int, mode: str):
        """(fg, alpha, official trimap or None) of one pasted object on the canvas."""
        tri = None
        if kind == "cutout":
            layer = self._random_cutout(rng)
            if layer is None:
                kind = "procedural"
            else:
                sr = (0.5, 2.5) if mode == "edge" else (0.35, 0.95)
                M = C.place_layer(rng, layer, size, mode, scale_range=sr, max_scale=2.0, rotate=10)
                fg, a, _ = C.warp_layer(layer, M, size)
        if kind == "alphamatting":
            stem = self.pools.alphamatting[rng.integers(len(self.pools.alphamatting))]
            layer = load_alphamatting(self.pools.root, stem)
            sr, max_scale = (0.5, 3.0) if mode == "edge" else (0.4, 0.95), 1.2
            native = self._native_scale(rng, layer, size) if mode == "edge" else None
            if native:
                sr, max_scale = native
            M = C.place_layer(rng, layer, size, mode, scale_range=sr, max_scale=max_scale, rotate=6)
            fg, a, _ = C.warp_layer(layer, M, size)
            tri = self._official_trimap(rng, stem, M, size)
        if kind == "procedural":
            fg, a = random_procedural(rng, size, self._texture(rng))
            if rng.random() < 0.5:
                fg, a = np.ascontiguousarray(fg[:, ::-1]), np.ascontiguousarray(a[:, ::-1])
        if kind != "procedural" and rng.random() < 0.08:
            fg, a = C.motion_blur(fg, a, size * rng.uniform(0.01, 0.06), rng.uniform(0, 180))
            tri = None
        return fg, a, tri

    # ------------------------------------------------------------------------------------------ sources
    def _composite(self, rng, kind: str):
        size = self.crop
        mode = "edge" if rng.random() < 1.0 - self.whole_prob else "whole"
        fg, a, tri = self._object(rng, kind, size, mode)
        bg = self._background(rng, size)
        if rng.random() < 0.8:
            fg = C.colour_jitter(rng, fg, 0.7)
        if rng.random() < 0.8:
            bg = C.colour_jitter(rng, bg, 1.0)
        if rng.random() < 0.5:
            fg = C.harmonise(rng, fg, a, bg)
        if rng.random() < self.distractor_prob:
            kinds = [k for k in ("cutout", "procedural", "alphamatting") if k in self.names]
            k2 = kinds[rng.integers(len(kinds))]
            fg2, a2, _ = self._object(rng, k2, size, "whole" if rng.random() < 0.5 else "edge")
            tri = None  # the hand-drawn trimap does not cover the second object
            fg2 = C.colour_jitter(rng, fg2, 0.7)
            if rng.random() < 0.5:
                fg, a = C.over(fg2, a2, fg, a)
            else:
                fg, a = C.over(fg, a, fg2, a2)
        return fg, a, bg, tri

    def _scene(self, rng, layer, stem=None):
        """A real scene (photo with its own estimated FG and BG) cropped around the matte's edge; with
        probability `scene_whole_prob` at the widest view (the photo's short side fills the crop).
        Returns (fg, alpha, bg, official trimap or None); `stem`: an alphamatting photo's."""
        size = self.crop
        h, w = layer.alpha.shape
        fill = size / min(h, w)  # no scale below this: the crop must lie inside the photo
        widest = self.scene_whole_prob > 0 and rng.random() < self.scene_whole_prob
        scale_range, max_scale = ((0.0, 0.0), fill) if widest else ((0.4, 2.5), max(1.3, fill * 1.3))
        native = self._native_scale(rng, layer, size) if stem and not widest else None
        if native:
            scale_range, max_scale = native[0], max(native[1], fill)
        M = C.place_layer(rng, layer, size, "edge", scale_range=scale_range, max_scale=max_scale,
                          min_scale=fill, rotate=0)
        M = _keep_inside(M, w, h, size)
        fg, a, bg = C.warp_layer(layer, M, size)
        if rng.random() < 0.7:  # same global colour change for both: a different camera, same scene
            seed = int(rng.integers(2**31))
            fg = C.colour_jitter(np.random.default_rng(seed), fg, 0.6)
            bg = C.colour_jitter(np.random.default_rng(seed), bg, 0.6)
        tri = self._official_trimap(rng, stem, M, size) if stem else None
        return fg, a, bg, tri

    # -------------------------------------------------------------------------------------------- main
    def __call__(self, rng: np.random.Generator):
        if self.people_weight > 0 and rng.random() < self.people_weight:
            layer = load_people_label(self.pools.people[rng.integers(len(self.pools.people))])
            fg, a, bg, tri = self._scene(rng, layer)
        else:
            kind = self.names[rng.choice(len(self.names), p=self.p)]
            if kind == "real":
                stem = self.pools.alphamatting[rng.integers(len(self.pools.alphamatting))]
                fg, a, bg, tri = self._scene(rng, load_alphamatting(self.pools.root, stem), stem)
            else:
                fg, a, bg, tri = self._composite(rng, kind)
        a = C.snap_alpha(a)
        fg, bg = np.clip(fg, 0, 1), np.clip(bg, 0, 1)
        if rng.random() < 0.5:
            fg, a, bg = fg[:, ::-1], a[:, ::-1], bg[:, ::-1]
            tri = None if tri is None else tri[:, ::-1]
        image = C.composite(fg, a, bg)
        if self.degrade:
            image = C.degrade(rng, image)
        if tri is None:
            trimap = random_trimap(rng, a, self.trimap_width, self.uneven_trimap_prob)
        else:  # known only where the hand-drawn trimap agrees with the true alpha: every soft pixel is unknown
            agrees = ((tri == 1.0) & (a == 1.0)) | ((tri == 0.0) & (a == 0.0))
            trimap = np.where(agrees, tri, 0.5).astype(np.float32)
        target = np.concatenate([a[..., None], fg, bg], -1)
        return (np.ascontiguousarray(image * 255.0, np.float32), trimap[..., None].astype(np.float32),
                np.ascontiguousarray(target, np.float32))


def _keep_inside(M: np.ndarray, w: int, h: int, size: int) -> np.ndarray:
    """Shift an axis-aligned placement so the canvas lies inside the source image (no empty borders)."""
    M = M.copy()
    for axis, extent in ((0, w), (1, h)):
        s = M[axis, axis]
        lo = min(M[axis, 2], s * extent + M[axis, 2])
        hi = max(M[axis, 2], s * extent + M[axis, 2])
        if hi - lo < size:
            M[axis, 2] += (size - (hi + lo)) / 2  # cannot cover: centre it
        elif lo > 0:
            M[axis, 2] -= lo
        elif hi < size:
            M[axis, 2] += size - hi
    return M
