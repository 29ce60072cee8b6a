"""The one trimap convention of the project (numpy only; the graph layers use the same thresholds).

A trimap is a float map in [0, 1] with three levels: background 0, unknown 0.5, foreground 1. A value ``v``
of any map read or resized as a trimap means

* background when ``v < LOW``,
* foreground when ``v > HIGH``,
* unknown otherwise (``LOW <= v <= HIGH``),

with ``LOW = 0.25`` and ``HIGH = 0.75``: halfway between the levels, so a resized or JPEG-noisy trimap snaps
back to the level it was nearest. 8-bit files store the levels as 0 / 128 / 255 (``to_uint8``). The DIM
benchmark's own scoring rule, an unknown pixel is exactly 128 in an 8-bit trimap, is ``dim_unknown`` (used
by the metrics only, to score as the published tables do).
"""

from __future__ import annotations

import numpy as np

BACKGROUND, UNKNOWN, FOREGROUND = 0.0, 0.5, 1.0
LOW, HIGH = 0.25, 0.75
UINT8_UNKNOWN = 128


def split(trimap) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(foreground, unknown, background) boolean masks of a float trimap (or any map read as one)."""
    t = np.asarray(trimap)
    foreground, background = t > HIGH, t < LOW
    return foreground, ~(foreground | background), background


def quantize(values) -> np.ndarray:
    """Snaps a map in [0, 1] to the levels {0, 0.5, 1} (float32)."""
    foreground, unknown, _ = split(values)
    return (foreground * FOREGROUND + unknown * UNKNOWN).astype(np.float32)


def to_uint8(trimap) -> np.ndarray:
    """A {0, 0.5, 1} trimap as an 8-bit image: 0 / 128 / 255."""
    foreground, unknown, _ = split(trimap)
    return np.where(foreground, 255, np.where(unknown, UINT8_UNKNOWN, 0)).astype(np.uint8)


def dim_unknown(trimap) -> np.ndarray:
    """DIM's scoring region: uint8 value == 128; float trimaps accept 0.5 and 128/255 (within half a level)."""
    t = np.asarray(trimap)
    if t.dtype == np.uint8:
        return t == UINT8_UNKNOWN
    return np.abs(t.astype(np.float64) * 255.0 - UINT8_UNKNOWN) <= 0.5
