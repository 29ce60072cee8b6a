"""Matting an image end to end: prepare -> any runtime -> outputs at the input's size.

    from alphanet_tf import Matter
    matter = Matter()                          # the shipped model, loaded once
    alpha = matter.matte("photo.jpg")          # float32 HxW in [0, 1]
    cut = matter.cutout(pil_image)             # RGBA uint8, decontaminated colours
    card = matter.composite(array, "#00ff00")  # RGB uint8

`predict(model, image)` is the functional form for scripts and benchmarks; both share one code path.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from PIL import Image

from alphanet_tf import foreground as fg_mod
from alphanet_tf import trimap as trimap_levels
from alphanet_tf.imageio import (
    DEFAULT_MAX_PIXELS,
    pil_to_rgb,
    read_background,
    read_grey,
    read_image,
)
from alphanet_tf.hole_filling import foreground_holes
from alphanet_tf.laplacian_refinement import refine_with_laplacian
from alphanet_tf.preprocess import prepare, prepare_map, restore, restore_trimap, working_side
from alphanet_tf.runtimes import Runtime, load_runtime


def as_rgb_uint8(image, max_pixels=DEFAULT_MAX_PIXELS) -> np.ndarray:
    """numpy (uint8, or float in [0, 1]; grey, RGB or RGBA), PIL image, path or bytes -> uint8 RGB HxWx3."""
    if isinstance(image, (str, Path, bytes, bytearray)):
        return read_image(image, max_pixels=max_pixels)[0]
    if isinstance(image, Image.Image):
        return pil_to_rgb(image)[0]
    image = np.asarray(image)
    if image.dtype != np.uint8:
        scale = 255.0 if image.max(initial=0) <= 1.0 else 1.0
        image = np.clip(np.rint(image.astype(np.float32) * scale), 0, 255).astype(np.uint8)
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
        raise ValueError(f"expected an image of shape (H, W), (H, W, 3) or (H, W, 4), got {image.shape}")
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    return np.ascontiguousarray(image[..., :3])


def as_trimap(trimap, size) -> np.ndarray:
    """A trimap (array uint8 0/128/255 or float in [0, 1], PIL image or path) -> float32 HxW in {0, .5, 1}."""
    if isinstance(trimap, (str, Path, bytes, bytearray)):
        values = read_grey(trimap)
    else:
        values = np.asarray(trimap)
        if values.ndim == 3:
            values = values[..., 0]
        values = values.astype(np.float32) / (255.0 if values.dtype == np.uint8 else 1.0)
    if values.shape != tuple(size):
        import cv2

        values = cv2.resize(values, (size[1], size[0]), interpolation=cv2.INTER_NEAREST)
    return trimap_levels.quantize(values)


def _run(runtime: Runtime, images, trimaps, max_side, lock=None, batch_size=4, refine=True):
    """Core: lists of uint8 images (and trimaps) -> list of output dicts at each input's size.

    Images of equal size are batched together; the runtime call alone holds `lock`. With `refine`, the net's
    alpha is refined: with trimaps by a closed-form solve with it as the prior (`laplacian_refinement`),
    without by filling its holes that show the subject's colours (`hole_filling`).
    """
    max_side = working_side(max_side, trimaps is not None)
    prepared = [prepare(im, max_side) for im in images]
    results = [None] * len(images)
    groups = {}
    for i, (x, geom) in enumerate(prepared):
        groups.setdefault(x.shape, []).append(i)
    for idx in groups.values():
        for start in range(0, len(idx), batch_size):
            chunk = idx[start : start + batch_size]
            x = np.stack([prepared[i][0] for i in chunk])
            t = None
            if trimaps is not None:
                t = np.stack([prepare_map(trimaps[i], prepared[i][1])[..., None] for i in chunk])
            if lock is None:
                out = runtime.predict(x, trimap=t)
            else:
                with lock:
                    out = runtime.predict(x, trimap=t)
            for j, i in enumerate(chunk):
                geom = prepared[i][1]
                res = {"alpha": restore(out["alpha"][j], geom, guide=images[i])}
                res["trimap"] = restore_trimap(out["trimap"][j], geom) if "trimap" in out else None
                seg = out.get("segmentation")
                res["segmentation"] = None if seg is None else restore(seg[j], geom, edge_aware=False)
                if trimaps is not None:  # the given trimap is the truth: keep it exactly, also at full size
                    res["trimap"] = trimaps[i]
                    if refine:
                        res["alpha"] = refine_with_laplacian(images[i], trimaps[i], res["alpha"])
                elif refine:  # filled holes become known foreground in the returned trimap too
                    holes = foreground_holes(images[i], res["alpha"])
                    if holes.any():
                        res["alpha"] = np.where(holes, np.float32(1.0), res["alpha"])
                        if res["trimap"] is not None:
                            res["trimap"] = np.where(holes, np.float32(1.0), res["trimap"])
                results[i] = res
    return results


def predict(model, image, trimap=None, max_side=None, refine=True):
    """Alpha matte(s) of one image or a list of images (equal sizes are batched).

    Args:
        model: a Runtime, a keras.Model, 'default' or a model path (see `load_runtime`).
        image: uint8 RGB HxWx3 (or anything `as_rgb_uint8` takes), or a list of them.
        trimap: None (automatic), or a trimap per image for the given-trimap mode.
        max_side: long side the network sees (None: 512 automatic, 1500 with a trimap); the alpha is
            upsampled back edge-aware.
        refine: refine the net's alpha: with a trimap by the matting-Laplacian solve (`laplacian_refinement`),
            without by filling the holes that show the subject's colours (`hole_filling`).

    Returns:
        float32 HxW in [0, 1], or a list of them for a list input.
    """
    runtime = load_runtime(model)
    single = not isinstance(image, (list, tuple))
    images = [as_rgb_uint8(im) for im in ([image] if single else image)]
    trimaps = None
    if trimap is not None:
        trimaps = [as_trimap(t, im.shape[:2]) for t, im in zip([trimap] if single else trimap, images)]
    alphas = [r["alpha"] for r in _run(runtime, images, trimaps, max_side, refine=refine)]
    return alphas[0] if single else alphas


class Matter:
    """Loads a model once and mattes images with it; safe to share between threads.

    Args:
        model: 'default' (the shipped model), a .keras / .tflite / SavedModel path, a keras.Model or a Runtime.
        threads: CPU threads for the engine (None: its default).
        max_side: long side the network sees (None: `DEFAULT_MAX_SIDE`, 512, automatic and
            `TRIMAP_MAX_SIDE`, 1500, with a given trimap).
        fg_estimation: decontaminate the foreground colours for cutouts and composites.
        max_pixels: refuse image files above this many pixels (checked from the header).
        refine: refine the net's alpha: in the given-trimap mode by the matting-Laplacian solve with it as
            the prior (`laplacian_refinement`; 0.1-2 s per photo at 800 px), in the automatic mode by filling
            the holes that show the subject's colours (`hole_filling`; tens of ms).
    """

    def __init__(self, model="default", threads=None, max_side=None, fg_estimation=True,
                 max_pixels=DEFAULT_MAX_PIXELS, refine=True):
        self.runtime = load_runtime(model, threads)
        self.max_side = max_side
        self.fg_estimation = fg_estimation
        self.refine = refine
        self.max_pixels = max_pixels
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.runtime.name

    def image(self, image) -> np.ndarray:
        """Any accepted image form -> uint8 RGB HxWx3 (files checked against `max_pixels`)."""
        return as_rgb_uint8(image, self.max_pixels)

    def predict(self, image, trimap=None) -> dict:
        """{"alpha", "trimap", "segmentation"}: float32 HxW each at the input's size (None if the model
        has no such output). With `trimap`, runs the given-trimap mode."""
        rgb = self.image(image)
        trimaps = None if trimap is None else [as_trimap(trimap, rgb.shape[:2])]
        return _run(self.runtime, [rgb], trimaps, self.max_side, lock=self._lock, refine=self.refine)[0]

    def matte(self, image, trimap=None) -> np.ndarray:
        """The alpha matte, float32 HxW in [0, 1]."""
        return self.predict(image, trimap)["alpha"]

    def foreground(self, image, alpha) -> np.ndarray:
        """Foreground colours for an alpha: decontaminated if `fg_estimation`, else the photo itself."""
        rgb = self.image(image)
        return fg_mod.estimate_foreground(rgb, alpha) if self.fg_estimation else rgb

    def cutout(self, image, trimap=None) -> np.ndarray:
        """RGBA uint8: the foreground with the alpha as 4th channel."""
        rgb = self.image(image)
        alpha = self.matte(rgb, trimap)
        return fg_mod.rgba(self.foreground(rgb, alpha), alpha)

    def composite(self, image, background="#ffffff", trimap=None) -> np.ndarray:
        """RGB uint8: the foreground over `background` (a colour like '#RRGGBB', an image path or array)."""
        rgb = self.image(image)
        alpha = self.matte(rgb, trimap)
        bg = read_background(background, rgb.shape[:2])
        return fg_mod.composite(self.foreground(rgb, alpha), alpha, bg)
