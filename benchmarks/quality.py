"""Scores the cached predictions with `alphanet eval`'s own scorer (`evaluate_folder(predictions=...)`):

* Table I, automatic matting: every automatic method on the matting set, whole image, DIM convention
  (SAD, Grad, Conn / 1000; MSE averaged) and the AlphaNet paper's per-pixel mean form.
* Table II, given trimaps: trimap-based methods and AlphaNet's matting stage on the given trimaps, scored
  over the trimaps' unknown band.
* Segmentation: IoU, F-measure (beta^2 = 0.3) and MAE of every automatic method on each mask set; a map is
  foreground where >= 0.5. Our models are scored on their segmentation output and, as a second row, on the
  final alpha.
"""

from __future__ import annotations

import numpy as np

from alphanet_tf.evaluation import EvalError, evaluate_folder, read_grey
from alphanet_tf.metrics import unknown_region
from benchmarks.methods import AUTO, TRIMAP
from benchmarks.predict import applies


def _score(**kwargs) -> dict:
    folder = kwargs["predictions"]
    if not any(folder.glob("*.png")):
        return {"error": "no predictions", "count": 0, "mean": {}, "per_image": {}, "failed": {}}
    try:
        return evaluate_folder(progress=False, **kwargs)
    except EvalError as e:  # e.g. no prediction folder: the method never ran on this set
        return {"error": str(e), "count": 0, "mean": {}, "per_image": {}, "failed": {}}


def matting_table(ds, methods, cache, mode: str) -> dict:
    """{slug: evaluate_folder result} for Table I (mode "auto") or Table II (mode "trimap")."""
    rows = {}
    for m in methods:
        if not applies(m, ds, mode):
            continue
        folder = cache.folder(ds.name, mode, m.slug)
        if mode == AUTO:
            rows[m.slug] = _score(images=ds.images, alphas=ds.gt, predictions=folder, region="whole")
        else:
            rows[m.slug] = _score(images=ds.images, alphas=ds.gt, trimaps=ds.trimaps, predictions=folder,
                                  region="unknown")
    return rows


def segmentation_table(ds, methods, cache) -> dict:
    """{row id: result}; row ids are slugs, plus "<slug>:alpha" for methods with a segmentation output."""
    rows = {}
    for m in methods:
        if not applies(m, ds, AUTO):
            continue
        folder = cache.folder(ds.name, AUTO, m.slug)
        seg = folder / "segmentation"
        rows[m.slug] = _score(images=ds.images, masks=ds.gt, predictions=seg if seg.is_dir() else folder)
        if seg.is_dir():
            rows[f"{m.slug}:alpha"] = _score(images=ds.images, masks=ds.gt, predictions=folder)
    return rows


def unknown_fraction(ds) -> float | None:
    """Mean fraction of pixels in the trimaps' unknown band (what the trimap-based solvers work on)."""
    if ds.trimaps is None:
        return None
    files = ds.trimap_files()
    return float(np.mean([unknown_region(read_grey(files[s])).mean() for s in ds.stems]))


def score_all(datasets, methods, cache) -> dict:
    """Every table of a run, JSON-ready."""
    out = {"table1": {}, "table2": {}, "segmentation": {}}
    for ds in datasets:
        meta = {"images": len(ds.stems)}
        if ds.task == "matting":
            out["table1"][ds.name] = {**meta, "rows": matting_table(ds, methods, cache, AUTO)}
            if ds.trimaps is not None:
                out["table2"][ds.name] = {**meta, "unknown_fraction": unknown_fraction(ds),
                                          "rows": matting_table(ds, methods, cache, TRIMAP)}
        else:
            out["segmentation"][ds.name] = {**meta, "rows": segmentation_table(ds, methods, cache)}
    return out
