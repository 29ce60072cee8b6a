"""Predictions cached on disk, one 8-bit PNG per method, image and output, so a run restarts where it stopped
and the scoring reads exactly what a user of the method would save.

Layout: ``OUT/cache/<dataset>/<mode>/<method slug>/<stem>.png`` for the alpha (the folder `alphanet eval
--predictions` scores), ``.../<slug>/<output>/<stem>.png`` for extra outputs (our trimap and segmentation),
and ``.../<slug>/method.json`` with the method's fingerprint: when the weights change, the stale PNGs are
removed instead of being scored.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from alphanet_tf.evaluation import read_grey
from alphanet_tf.imageio import write_bytes_atomic, write_png_atomic
from alphanet_tf.metrics import to_float


class PredictionCache:
    def __init__(self, root):
        self.root = Path(root)

    def folder(self, dataset: str, mode: str, slug: str) -> Path:
        return self.root / dataset / mode / slug

    def path(self, dataset: str, mode: str, slug: str, stem: str, output: str = "alpha") -> Path:
        folder = self.folder(dataset, mode, slug)
        return (folder if output == "alpha" else folder / output) / f"{stem}.png"

    def has(self, dataset, mode, slug, stem, output="alpha") -> bool:
        return self.path(dataset, mode, slug, stem, output).is_file()

    def open(self, dataset: str, mode: str, method) -> Path:
        """The method's folder, emptied first if it holds predictions of another fingerprint."""
        folder = self.folder(dataset, mode, method.slug)
        meta_path = folder / "method.json"
        fingerprint = method.fingerprint()
        if meta_path.is_file():
            meta = json.loads(meta_path.read_text())
            if meta.get("fingerprint") == fingerprint:
                return folder
            shutil.rmtree(folder)
        folder.mkdir(parents=True, exist_ok=True)
        meta = {"name": method.name, "slug": method.slug, "fingerprint": fingerprint}
        write_bytes_atomic(meta_path, (json.dumps(meta, indent=2) + "\n").encode())
        return folder

    def write(self, dataset, mode, slug, stem, outputs: dict) -> None:
        for output, values in outputs.items():
            path = self.path(dataset, mode, slug, stem, output)
            path.parent.mkdir(parents=True, exist_ok=True)
            write_png_atomic(path, np.asarray(values, np.float32))

    def read(self, dataset, mode, slug, stem, output="alpha") -> np.ndarray | None:
        """float64 (H, W) in [0, 1], or None when not cached."""
        path = self.path(dataset, mode, slug, stem, output)
        return to_float(read_grey(path)) if path.is_file() else None
