"""Foreground colour estimation (decontamination), and compositing with the estimated colours.

A pixel of hair in front of a green wall is a mix: I = alpha F + (1 - alpha) B. Cutting it out with the
photo's colour keeps the green fringe; solving for F (pymatting's multi-level `estimate_foreground_ml`)
removes it. Used by default for RGBA and composite outputs.

Cost, measured here (2 cores, beside a training run): 0.33 s at 750x500, 0.65 s at 1500x1000, growing
with the pixel count. Above `FG_MAX_SIDE` it runs on a downscaled copy and only the *correction* F - I is
upsampled and added to the full-resolution photo, which keeps the photo's own detail.
"""

from __future__ import annotations

import cv2
import numpy as np

from alphanet_tf.preprocess import cap_long_side

FG_MAX_SIDE = 1500


def estimate_foreground(image: np.ndarray, alpha: np.ndarray, max_side: int = FG_MAX_SIDE) -> np.ndarray:
    """uint8 RGB HxWx3 + alpha float HxW in [0, 1] -> decontaminated foreground colours, uint8 HxWx3."""
    from pymatting import estimate_foreground_ml

    h, w = image.shape[:2]
    photo = image.astype(np.float32) / 255.0
    alpha = np.clip(np.asarray(alpha, np.float32), 0.0, 1.0)
    small_photo = cap_long_side(photo, max_side)
    if small_photo.shape[:2] == (h, w):
        fg = estimate_foreground_ml(photo, alpha)
    else:
        sh, sw = small_photo.shape[:2]
        small_alpha = cv2.resize(alpha, (sw, sh), interpolation=cv2.INTER_AREA)
        correction = estimate_foreground_ml(small_photo, small_alpha) - small_photo
        fg = photo + cv2.resize(correction.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    fg = np.where(alpha[..., None] >= 1.0, photo, fg)  # fully opaque: exactly the photo
    return np.clip(np.rint(fg * 255.0), 0, 255).astype(np.uint8)


def rgba(foreground: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """RGBA uint8 cut-out: the foreground colours with alpha as the 4th channel."""
    a = np.clip(np.rint(np.asarray(alpha, np.float32) * 255.0), 0, 255).astype(np.uint8)
    return np.dstack([foreground.astype(np.uint8), a])


def composite(foreground: np.ndarray, alpha: np.ndarray, background: np.ndarray) -> np.ndarray:
    """alpha F + (1 - alpha) B as uint8 RGB; `background` is an HxWx3 image or an RGB colour (3,)."""
    a = np.clip(np.asarray(alpha, np.float32), 0.0, 1.0)[..., None]
    bg = np.broadcast_to(np.asarray(background, np.float32), foreground.shape)
    out = a * foreground.astype(np.float32) + (1.0 - a) * bg
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
