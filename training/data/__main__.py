"""Preview and measure the training data pipelines.

    python -m training.data --preview OUT.png            # matting contact sheet + samples/s
    python -m training.data --kind segmentation --preview seg.png --split val
    python -m training.data --bench 20                   # only throughput (20 batches after warm-up)

Matting sheet, one sample per row: image | trimap | alpha | foreground over a checkerboard | background.
Segmentation sheet: image | mask | mask overlay.
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def _checker(h, w, cell=16):
    import numpy as np
    yy, xx = np.mgrid[0:h, 0:w]
    return (((yy // cell + xx // cell) % 2) * 0.35 + 0.45).astype("float32")[..., None]


def _sheet_matting(inputs, targets, tile):
    import cv2
    import numpy as np
    rows = []
    for i in range(inputs["image"].shape[0]):
        img = inputs["image"][i] / 255.0
        tri = np.repeat(inputs["trimap"][i], 3, -1)
        a = targets[i, ..., :1]
        fg, bg = targets[i, ..., 1:4], targets[i, ..., 4:7]
        chk = _checker(*a.shape[:2])
        cut = a * fg + (1 - a) * chk
        row = [img, tri, np.repeat(a, 3, -1), cut, bg]
        rows.append(np.hstack([cv2.resize(np.ascontiguousarray(t), (tile, tile), interpolation=cv2.INTER_AREA)
                               for t in row]))
    return np.vstack(rows)


def _sheet_segmentation(images, masks, tile):
    import cv2
    import numpy as np
    rows = []
    for i in range(images.shape[0]):
        img = images[i] / 255.0
        m = np.repeat(masks[i], 3, -1)
        over = img * (0.5 + 0.5 * m) + (1 - m) * np.array([0, 0, 0.25], np.float32)
        over = np.where(m > 0, img * 0.6 + np.array([0.4, 0.0, 0.0], np.float32), img * 0.8)
        rows.append(np.hstack([cv2.resize(np.ascontiguousarray(t, dtype=np.float32), (tile, tile),
                                          interpolation=cv2.INTER_AREA) for t in (img, m, over)]))
    return np.vstack(rows)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m training.data", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preview", metavar="OUT.png", help="write a contact sheet of one batch")
    ap.add_argument("--kind", choices=("matting", "segmentation"), default="matting")
    ap.add_argument("--split", choices=("train", "val"), default="train")
    ap.add_argument("--crop", type=int, default=320, help="crop / size of the samples")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tile", type=int, default=256, help="tile size in the contact sheet")
    ap.add_argument("--bench", type=int, default=10, help="batches to time after 2 warm-up batches (0: skip)")
    ap.add_argument("--parallel", type=int, default=2, help="num_parallel_calls of the sample map")
    ap.add_argument("--people-weight", type=float, default=0.25)
    ap.add_argument("--no-degrade", action="store_true", help="turn off blur/noise/JPEG after compositing")
    ap.add_argument("--data-root", default=None)
    args = ap.parse_args(argv)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import cv2
    import numpy as np
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(max(2, args.parallel))
    from training.data import matting_dataset, segmentation_dataset

    if args.kind == "matting":
        ds = matting_dataset(args.split, crop=args.crop, batch_size=args.batch, seed=args.seed,
                             data_root=args.data_root, repeat=True, people_weight=args.people_weight,
                             degrade=not args.no_degrade, num_parallel_calls=args.parallel)
    else:
        ds = segmentation_dataset(args.split, size=args.crop, batch_size=args.batch, seed=args.seed,
                                  data_root=args.data_root, repeat=True, degrade=not args.no_degrade,
                                  num_parallel_calls=args.parallel)
    it = iter(ds)
    t0 = time.perf_counter()
    first = next(it)
    print(f"first batch (includes loading): {time.perf_counter() - t0:.1f} s")
    if args.preview:
        if args.kind == "matting":
            inputs, targets = first
            sheet = _sheet_matting({k: v.numpy() for k, v in inputs.items()}, targets.numpy(), args.tile)
            print("columns: image | trimap | alpha | fg over checkerboard | background")
        else:
            sheet = _sheet_segmentation(first[0].numpy(), first[1].numpy(), args.tile)
            print("columns: image | mask | overlay")
        out = np.clip(sheet * 255 + 0.5, 0, 255).astype(np.uint8)[..., ::-1]
        os.makedirs(os.path.dirname(os.path.abspath(args.preview)), exist_ok=True)
        cv2.imwrite(args.preview, out)
        print(f"wrote {args.preview} ({out.shape[1]}x{out.shape[0]})")
    if args.bench > 0:
        next(it)
        next(it)
        t0 = time.perf_counter()
        for _ in range(args.bench):
            next(it)
        dt = time.perf_counter() - t0
        n = args.bench * args.batch
        print(f"{args.kind} {args.split} crop {args.crop}, num_parallel_calls {args.parallel}: "
              f"{n / dt:.1f} samples/s ({n} samples in {dt:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
