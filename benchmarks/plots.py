"""The figures of a run: quality vs latency, latency vs image size, and a contact sheet of mattes."""

from __future__ import annotations

import numpy as np

from alphanet_tf.evaluation import read_rgb
from benchmarks.methods import AUTO, TRIMAP
from benchmarks.report import speed_rows
from benchmarks.speed import SPEED_SIDE


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def quality_vs_latency(results: dict, path) -> bool:
    """SAD (Table I whole image; Table II unknown band) against the 1-thread latency at 512x512."""
    latency = {(r["slug"], r["mode"]): r["ms_512"] for r in speed_rows(results)
               if r.get("threads") == 1 and r.get("ms_512")}
    panels = []
    for table, mode, title in (("table1", AUTO, "automatic (Table I), whole image"),
                               ("table2", TRIMAP, "given trimap (Table II), unknown band")):
        for ds, t in results.get(table, {}).items():
            points = [(latency[(slug, mode)], r["mean"]["sad"], results["methods"][slug])
                      for slug, r in t["rows"].items() if (slug, mode) in latency and "sad" in r.get("mean", {})]
            if points:
                panels.append((f"{ds}: {title}", points))
    if not panels:
        return False
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 4.8), squeeze=False)
    for ax, (title, points) in zip(axes[0], panels):
        for ms, sad, info in points:
            ax.scatter(ms, sad, c="tab:red" if info["ours"] else "tab:blue", s=30)
            ax.annotate(info["name"], (ms, sad), fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.set_xscale("log")
        sads = [p[1] for p in points]
        if min(sads) > 0 and max(sads) / min(sads) > 30:
            ax.set_yscale("log")
        ax.set(title=title, xlabel=f"latency at {SPEED_SIDE}x{SPEED_SIDE}, 1 thread (ms)",
               ylabel="SAD (lower is better)")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def latency_vs_size(results: dict, path) -> bool:
    lines = [(results["methods"][slug]["name"], int(t), r["scaling"])
             for slug, per in results.get("speed", {}).items() for t, r in per.items() if r.get("scaling")]
    if not lines:
        return False
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for name, threads, scaling in lines:
        sides = sorted(int(s) for s in scaling)
        ax.plot(sides, [scaling[str(s)]["median_ms"] for s in sides], marker="o", label=f"{name}, {threads} thr")
    ax.set(xlabel="long side of the image (px)", ylabel="latency (ms)", title="latency vs image size", yscale="log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def _thumb(x: np.ndarray, width: int = 200) -> np.ndarray:
    import cv2

    h, w = x.shape[:2]
    if w <= width:
        return x
    return cv2.resize(x, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)


def contact_sheet(datasets, methods, cache, path, per_set: int = 2) -> bool:
    """Rows: a few images of each set (image, ground truth, then every method's alpha); blank where a method
    did not run. Trimap-based methods show their given-trimap matte."""
    from benchmarks.predict import applies

    rows = [(ds, stem) for ds in datasets for stem in ds.stems[:per_set]]
    if not rows or not methods:
        return False
    plt = _pyplot()
    cols = 2 + len(methods)
    fig, axes = plt.subplots(len(rows), cols, figsize=(1.6 * cols, 1.5 * len(rows)), squeeze=False)
    for r, (ds, stem) in enumerate(rows):
        image = read_rgb(ds.image_files()[stem])
        gt = np.asarray(read_rgb(ds.gt_files()[stem]))[..., 0]
        if ds.task != "matting":  # label maps (Penn-Fudan: 0, 1, 2, ...) as a mask
            gt = ((gt > 0) * 255).astype(np.uint8)
        cells = [(f"{ds.name}/{stem}", _thumb(image)), ("ground truth", _thumb(gt))]
        for m in methods:
            mode = AUTO if AUTO in m.modes else TRIMAP
            alpha = cache.read(ds.name, mode, m.slug, stem) if applies(m, ds, mode) else None
            cells.append((m.name, None if alpha is None else _thumb(alpha)))
        for c, (ax, (title, img)) in enumerate(zip(axes[r], cells)):
            ax.axis("off")
            if r == 0 or c == 0:  # method names once, the image name on every row
                ax.set_title(title, fontsize=6)
            if img is not None:
                ax.imshow(img, cmap="gray", vmin=0, vmax=1 if img.dtype != np.uint8 else 255)
    fig.tight_layout(pad=0.3)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
