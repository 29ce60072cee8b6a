"""The demo's matting engine: an exported AlphaNet .tflite on LiteRT with numpy and OpenCV, no TensorFlow.

Kept apart from the command line so the browser test compares the page against exactly this code. It
redoes, at the model's fixed input size, what alphanet_tf.preprocess and runtimes.TFLiteRuntime do
(letterbox, run, crop, edge-aware upsample): a phone-class device should not need TensorFlow installed.

    matter = LiteMatter("dist/alphanet_int8_ptq.tflite", threads=2)
    alpha = matter.matte(rgb_uint8)          # float32 H x W in [0, 1]
"""

from __future__ import annotations

import cv2
import numpy as np


class DemoError(Exception):
    """A failure reported to the user as one line (a missing file, a model that does not load)."""


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def letterbox(rgb: np.ndarray, size) -> tuple[np.ndarray, tuple[int, int]]:
    """Fits an image into (S, S) keeping its aspect (area filter when shrinking), reflect-pads
    bottom/right like TFLiteRuntime. Returns (uint8 S x S x 3, (rh, rw) of the image part)."""
    sh, sw = size
    h, w = rgb.shape[:2]
    scale = min(sh / h, sw / w)
    # round() halves to even; the web page (web/matte.js) rounds the same way to pick the same size.
    rh, rw = min(sh, max(1, round(h * scale))), min(sw, max(1, round(w * scale)))
    if (rh, rw) != (h, w):
        rgb = cv2.resize(rgb, (rw, rh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    padded = cv2.copyMakeBorder(rgb, 0, sh - rh, 0, sw - rw, cv2.BORDER_REFLECT_101)
    return padded, (rh, rw)


def box(x: np.ndarray, r: int) -> np.ndarray:
    """Mean over a (2r+1)^2 window, borders reflected (the guided filter's only smoothing step)."""
    return cv2.boxFilter(x, -1, (2 * r + 1, 2 * r + 1), borderType=cv2.BORDER_REFLECT_101)


def guided_coefficients(guide: np.ndarray, src: np.ndarray, r: int = 2, eps: float = 1e-3):
    """Colour guided filter (He et al.): src ~ a . guide + b per window. guide float32 h x w x 3 in [0, 1],
    src h x w. Returns the box-averaged (a h x w x 3, b h x w), smooth enough to be resized."""
    mean_i, mean_p = box(guide, r), box(src, r)
    x, y, z = np.moveaxis(box(guide * src[..., None], r) - mean_i * mean_p[..., None], -1, 0)  # cov(I, p)
    # The 6 distinct entries of the guide's 3x3 covariance per pixel, eps on the diagonal.
    i, j = [0, 0, 0, 1, 1, 2], [0, 1, 2, 1, 2, 2]
    var = box(guide[..., i] * guide[..., j], r) - mean_i[..., i] * mean_i[..., j]
    s00, s01, s02, s11, s12, s22 = np.moveaxis(var + eps * np.float32([1, 0, 0, 1, 0, 1]), -1, 0)
    # Its inverse by cofactors (closed form, vectorised: several times faster than np.linalg.solve).
    c00, c01, c02 = s11 * s22 - s12 * s12, s02 * s12 - s01 * s22, s01 * s12 - s02 * s11
    c11, c12, c22 = s00 * s22 - s02 * s02, s01 * s02 - s00 * s12, s00 * s11 - s01 * s01
    det = s00 * c00 + s01 * c01 + s02 * c02
    a = np.stack([c00 * x + c01 * y + c02 * z, c01 * x + c11 * y + c12 * z, c02 * x + c12 * y + c22 * z], -1)
    a = (a / det[..., None]).astype(np.float32)
    b = mean_p - np.sum(a * mean_i, axis=-1)
    return box(a, r), box(b, r)


def guided_upsample(alpha_small: np.ndarray, guide_small: np.ndarray, guide: np.ndarray) -> np.ndarray:
    """Alpha at the network's resolution -> the frame's, following the frame's edges (fast guided filter:
    fit at low resolution against the image the network saw, resize only the smooth coefficients)."""
    h, w = guide.shape[:2]
    if guide_small.shape[:2] == (h, w):
        return np.clip(alpha_small, 0.0, 1.0).astype(np.float32)
    a, b = guided_coefficients(guide_small.astype(np.float32) / 255.0, alpha_small.astype(np.float32))
    ab = cv2.resize(np.dstack([a, b]), (w, h), interpolation=cv2.INTER_LINEAR)  # one 4-channel pass
    alpha = np.einsum("hwc,hwc->hw", ab[..., :3], guide.astype(np.float32)) / 255.0 + ab[..., 3]
    return np.clip(alpha, 0.0, 1.0).astype(np.float32)


class LiteMatter:
    """One .tflite model loaded once; `matte(rgb)` for any frame size."""

    def __init__(self, path, threads: int | None = None):
        from ai_edge_litert.interpreter import Interpreter

        try:
            interpreter = Interpreter(model_path=str(path), num_threads=threads)
            signatures = list(interpreter.get_signature_list())
        except Exception as e:
            raise DemoError(f"{path}: cannot load the TFLite model ({first_line(e)})") from None
        for key in signatures:
            runner = interpreter.get_signature_runner(key)
            inputs = runner.get_input_details()
            if len(inputs) == 1 and len(next(iter(inputs.values()))["shape"]) == 4:
                break
        else:
            raise DemoError(f"{path}: no signature takes one image (export it with `alphanet export`)")
        self._runner, self._outputs = runner, runner.get_output_details()
        (self._input_name, detail), = inputs.items()
        shape = detail["shape"]
        if shape[0] != 1 or shape[3] != 3 or min(detail["shape_signature"][1:3]) < 0:
            raise DemoError(f"{path}: expected a fixed (1, S, S, 3) image input, got {list(detail['shape_signature'])}")
        self.size = (int(shape[1]), int(shape[2]))
        self.input_dtype = np.dtype(detail["dtype"])
        self._quant = detail["quantization"]

    def _to_input(self, boxed: np.ndarray) -> np.ndarray:
        """uint8 pixels -> the input tensor: float 0..255, or quantized with the tensor's scale/zero point."""
        x = boxed[None]
        if np.issubdtype(self.input_dtype, np.floating):
            return x.astype(self.input_dtype)
        scale, zero = self._quant
        if scale and (scale, zero) != (1.0, 0):
            x = np.rint(x / scale + zero)
        info = np.iinfo(self.input_dtype)
        return np.clip(x, info.min, info.max).astype(self.input_dtype)

    def run(self, boxed: np.ndarray) -> np.ndarray:
        """Letterboxed uint8 S x S x 3 -> alpha float32 S x S."""
        outputs = self._runner(**{self._input_name: self._to_input(boxed)})
        name = "alpha" if "alpha" in outputs else sorted(outputs)[0]
        alpha = outputs[name]
        if not np.issubdtype(alpha.dtype, np.floating):
            scale, zero = self._outputs[name]["quantization"]
            alpha = (alpha.astype(np.float32) - zero) * (scale or 1.0 / np.iinfo(alpha.dtype).max)
        return np.asarray(alpha, np.float32).reshape(self.size)

    def matte(self, rgb: np.ndarray) -> np.ndarray:
        """uint8 RGB H x W x 3 -> alpha float32 H x W in [0, 1]."""
        boxed, (rh, rw) = letterbox(rgb, self.size)
        return guided_upsample(self.run(boxed)[:rh, :rw], boxed[:rh, :rw], rgb)
