"""Shared plumbing of the trimap-based baselines from pymatting (closed-form, KNN, large-kernel).

The image goes in as float64 in [0, 1], the trimap as {0, 0.5, 1}. A trimap without any known foreground
(an empty segmentation) or background has no solution: the known part is returned as is (0 / 1, unknown as
the trimap's own value) instead of pymatting's error, so "segmentation + closed-form" still scores such an
image. Numba's thread count follows ``load(threads)``.
"""

from __future__ import annotations

import numpy as np

from benchmarks.methods import Method, clip_alpha


def set_numba_threads(threads: int) -> None:
    import numba

    numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))


def solve(estimate, image: np.ndarray, trimap: np.ndarray) -> np.ndarray:
    """Runs a pymatting ``estimate_alpha_*`` on uint8 RGB and a {0, 0.5, 1} trimap."""
    t = np.asarray(trimap, np.float64)
    if not (t >= 1.0).any() or not (t <= 0.0).any():
        return clip_alpha(t)
    return clip_alpha(estimate(image.astype(np.float64) / 255.0, t))


class PymattingPeer(Method):
    kind = "trimap"
    runtime = "pymatting (numba, scipy)"
    license = "MIT"
    tasks = ("matting",)
    function = ""  # name of the pymatting estimate_alpha_* function

    def fingerprint(self) -> str:
        import pymatting

        return f"pymatting-{pymatting.__version__}/{self.function}"

    def load(self, threads: int = 1) -> None:
        import pymatting

        super().load(threads)
        set_numba_threads(threads)
        self.estimate = getattr(pymatting, self.function)

    def predict(self, image, trimap=None):
        if trimap is None:
            raise ValueError(f"{self.name} needs a trimap")
        return solve(self.estimate, image, trimap)
