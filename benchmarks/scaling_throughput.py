"""Images/s per core of every scaling path, to choose TF Serving's batching and project catalogue jobs.

    python benchmarks/scaling_throughput.py --model default [--savedmodel DIR] [--tflite int8.tflite]
        [--size 512] [--batches 1,4,8] [--threads 2] [--beam-images 16] [--json out.json]

Paths timed: the SavedModel's `serving_image_tensor` (what TF Serving runs, exported with export/savedmodel.py
unless --savedmodel is given) at each batch size; the CLI path (`alphanet_tf.inference.predict`, one image);
the Beam DirectRunner pipeline (marginal rate: (N - 1) / (T(N) - T(1)), so start-up and model loading cancel);
a .tflite file through LiteRT when --tflite is given. Run it on a quiet machine: figures taken beside other
jobs are not results.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _time(fn, repeats):
    fn()  # warm-up: tracing, allocations
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def _images(n, size, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def bench_savedmodel(version_dir, size, batches, repeats):
    import tensorflow as tf

    fn = tf.saved_model.load(str(version_dir)).signatures["serving_image_tensor"]
    rows = []
    for b in batches:
        x = tf.constant(_images(b, size))
        rows.append((f"savedmodel serving_image_tensor batch {b}", b / _time(lambda: fn(image=x), repeats)))
    return rows


def bench_cli_path(runtime, size, repeats):
    from alphanet_tf.inference import predict

    image = _images(1, size)[0]
    return [("CLI path inference.predict (1 image)", 1 / _time(lambda: predict(runtime, image), repeats))]


def bench_tflite(path, threads, size, repeats):
    from alphanet_tf.runtimes import load_runtime

    rt = load_runtime(path, threads)
    x = _images(1, size).astype(np.float32)
    return [(f"tflite {Path(path).name} (1 image)", 1 / _time(lambda: rt.predict(x), repeats))]


def bench_beam(model, size, n, threads):
    from PIL import Image

    from alphanet_tf import beam

    def run(count):
        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp) / "in"
            src.mkdir()
            for i, im in enumerate(_images(count, size, seed=1)):
                Image.fromarray(im).save(src / f"{i}.jpg", quality=90)
            start = time.perf_counter()
            argv = ["--input", f"{src}/*.jpg", "--output", f"{tmp}/out", "--model", str(model),
                    "--output-kind", "alpha", "--min-batch", "1", "--max-batch", "8"]
            beam.main(argv + (["--threads", str(threads)] if threads else []))
            return time.perf_counter() - start

    t1, tn = run(1), run(n)
    rate = (n - 1) / (tn - t1) if tn > t1 else float("nan")  # nan: too few images to see past start-up
    return [(f"beam DirectRunner, alpha PNGs (marginal, {n} images)", rate)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default", help="default, or a .keras file")
    ap.add_argument("--savedmodel", help="an exported version folder (.../savedmodel/alphanet/1); else exported")
    ap.add_argument("--tflite", help="a .tflite file to time as well (e.g. alphanet_int8_ptq.tflite)")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--batches", default="1,4,8")
    ap.add_argument("--threads", type=int, default=None, help="threads for TF and LiteRT (default: all cores)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--beam-images", type=int, default=16, help="0 skips the Beam run")
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from alphanet_tf.bundle import resolve_model_path
    from alphanet_tf.runtimes import load_runtime

    model_path = resolve_model_path(args.model)
    runtime = load_runtime(model_path, args.threads)  # sets TF's thread counts before the first op
    cores = args.threads or os.cpu_count() or 1
    version_dir = args.savedmodel
    if version_dir is None:
        from export.savedmodel import export_savedmodel

        version_dir = export_savedmodel(runtime.model, tempfile.mkdtemp(prefix="alphanet-sm-"))
    rows = bench_savedmodel(version_dir, args.size, [int(b) for b in args.batches.split(",")], args.repeats)
    rows += bench_cli_path(runtime, args.size, args.repeats)
    if args.tflite:
        rows += bench_tflite(args.tflite, args.threads, args.size, args.repeats)
    if args.beam_images > 1:
        rows += bench_beam(model_path, args.size, args.beam_images, args.threads)
    print(f"{args.size}x{args.size}, {cores} core(s), model {model_path.name}")
    print("| path | images/s | images/s per core |\n|---|---|---|")
    for name, rate in rows:
        print(f"| {name} | {rate:.2f} | {rate / cores:.2f} |")
    if args.json:
        report = {"size": args.size, "cores": cores, "model": str(model_path),
                  "rows": [{"path": n, "images_per_s": r, "images_per_s_per_core": r / cores} for n, r in rows]}
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
