"""Shared plumbing of the ONNX peers: checked model file, an onnxruntime session with a thread count, and
the cost of one call from onnxruntime's node profile."""

from __future__ import annotations

import os
import tempfile

import cv2
import numpy as np

from benchmarks.flops import onnx_profile_cost
from benchmarks.methods import Method
from benchmarks.peers.files import peer_file, pinned_hashes


def resize(x: np.ndarray, size) -> np.ndarray:
    """Resizes an image or map to (h, w): area filter when shrinking (no aliasing), bilinear otherwise."""
    h, w = size
    if x.shape[:2] == (h, w):
        return x
    shrink = h < x.shape[0] or w < x.shape[1]
    return cv2.resize(x, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def to_nchw(x: np.ndarray) -> np.ndarray:
    """(H, W, 3) float -> (1, 3, H, W) float32, contiguous."""
    return np.ascontiguousarray(np.asarray(x, np.float32).transpose(2, 0, 1)[None])


def session(path, threads: int = 1, profile_prefix: str | None = None):
    """An onnxruntime CPU session on `threads` intra-op threads (one inter-op thread: these graphs are
    sequential), optionally profiling every node."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = int(threads)
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    if profile_prefix:
        options.enable_profiling = True
        options.profile_file_prefix = profile_prefix
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class OnnxPeer(Method):
    """A peer model in one ONNX file; subclasses set `file` and implement `predict` with `self.session`."""

    file = ""
    runtime = "onnxruntime"
    preprocessing_version = "1"

    def files(self):
        return [peer_file(self.file)]

    def fingerprint(self) -> str:
        return f"{pinned_hashes()[self.file]}/{self.preprocessing_version}"

    def load(self, threads: int = 1) -> None:
        super().load(threads)
        self.session = session(peer_file(self.file), threads)

    def cost(self, image, trimap=None) -> dict:
        """One profiled call on `image` (a separate session, so the timed one is untouched)."""
        timed = self.session
        with tempfile.TemporaryDirectory(prefix="ortprof_") as tmp:
            self.session = session(peer_file(self.file), self.threads or 1, os.path.join(tmp, "p"))
            try:
                self.predict(image, trimap)
                profile = self.session.end_profiling()
                return onnx_profile_cost(profile)
            finally:
                self.session = timed

    def close(self) -> None:
        self.session = None
