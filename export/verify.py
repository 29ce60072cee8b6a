"""Checks every exported artifact against the float Keras model, each through its own runtime.

    alphanet verify-export --model default --artifacts dist/ [--images DIR [--alphas DIR]] [--size 512]

The same uint8 images (resized to cover size x size, so no runtime pads or letterboxes) go to the Keras
model, the SavedModel (both signatures, loaded with `tf.saved_model.load` as TF Serving does) and every
.tflite (ai-edge-litert, default delegates, as deployed). For each artifact: mean and max |alpha - float
alpha|, SAD of that difference (sum / 1000, mean per image), the share of pixels whose trimap class differs
from float (the segmentation-to-trimap decision must not flicker), median latency at each `--threads` count
(default 1 and 2; counts after the first run in a child process, since TensorFlow fixes its threads at start),
file size, and with ground truth SAD / MSE / Grad / Conn (whole image, DIM convention) next to float's.
Prints the table and writes `DIR/report.md` and `DIR/report.json`. Exit code 1 when a gate fails.

Gates:
- the float artifacts (SavedModel, fp32, fp16) reproduce the model: mean |alpha difference| at most
  1e-4 / 1e-3 / 2e-2;
- with ground truth (`--alphas`, matched to `--images` by stem), the quality gates: each artifact's SAD
  against the ground truth at most 0.5 % above the float model's for SavedModel / fp32 / fp16, at most
  5 % above for int8 QAT; int8 PTQ is reported, not gated (it is expected to lose quality);
- without ground truth, int8 QAT: with `--qat-model` (the QAT Keras model it was converted from, which
  `alphanet export --qat-model` passes on), a conversion check: sum |alpha - QAT model's alpha| at most 10 % of
  the QAT model's sum alpha (`rel_l1_qat_model`; int8 rounding flips a few trimap pixels, each a large alpha
  change: 5.4 % on the samples for the shipped model's QAT file, while a broken conversion is off by tens of
  percent). The QAT fine-tune changes the segmentation net too, so its matte may rightly differ from float's
  (17.9 % there, with SAD against the ground truth 11.8 % better): `rel_l1` against float is reported, and
  gated at 5 % only when no QAT model is given.
Latency is only meaningful on a quiet machine (DESIGN.md section 5).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from alphanet_tf.trimap import HIGH, LOW

#: mean |alpha difference| allowed per artifact kind; None: not gated on it.
GATES = {"savedmodel": 1e-4, "savedmodel-bytes": 1e-4, "tflite-fp32": 1e-3, "tflite-fp16": 2e-2,
         "tflite-int8-ptq": None, "tflite-int8-qat": None}
#: with ground truth: relative SAD increase over the float model's SAD allowed (0.05 = 5 %); None: reported.
SAD_GATES = {"savedmodel": 0.005, "savedmodel-bytes": 0.005, "tflite-fp32": 0.005, "tflite-fp16": 0.005,
             "tflite-int8-ptq": None, "tflite-int8-qat": 0.05}
#: without ground truth: sum |alpha - float alpha| / sum float alpha allowed.
REL_L1_GATES = {"tflite-int8-qat": 0.05}
#: without ground truth, with the QAT Keras model given: sum |alpha - its alpha| / its sum alpha allowed.
QAT_MODEL_REL_L1_GATE = 0.10
TFLITE_KINDS = {"alphanet_fp32.tflite": "tflite-fp32", "alphanet_fp16.tflite": "tflite-fp16",
                "alphanet_int8_ptq.tflite": "tflite-int8-ptq", "alphanet_int8_qat.tflite": "tflite-int8-qat"}


def set_threads(threads: int = 1):
    """TensorFlow's intra-op threads; must run before TensorFlow's first op (later it is ignored)."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        print("verify: TensorFlow already initialised, Keras/SavedModel latency uses its threads", file=sys.stderr)


def trimap_class(trimap: np.ndarray) -> np.ndarray:
    """0 background, 1 unknown, 2 foreground; thresholds of `QuantizeTrimap` (tolerant of int8 rounding)."""
    return (trimap >= LOW).astype(np.uint8) + (trimap > HIGH).astype(np.uint8)


def compare(ref: dict, out: dict, gt=None) -> dict:
    """Differences of one image's outputs from the float reference (maps (H, W) float32), and with a
    ground-truth alpha `gt` (H, W) in [0, 1] the SAD of both against it."""
    diff = np.abs(out["alpha"] - ref["alpha"])
    result = {"mean_abs": float(diff.mean()), "max_abs": float(diff.max()), "sad": float(diff.sum() / 1000.0),
              "l1": float(diff.sum()), "float_l1": float(np.abs(ref["alpha"]).sum())}
    if gt is not None:
        from alphanet_tf.metrics import matting_metrics

        result.update({f"{k}_gt": v for k, v in matting_metrics(out["alpha"], gt, region="whole").items()})
        result["float_sad_gt"] = float(np.abs(ref["alpha"] - gt).sum() / 1000.0)
    if "trimap" in out:
        result["trimap_disagreement"] = float(np.mean(trimap_class(out["trimap"]) != trimap_class(ref["trimap"])))
    return result


def _maps(outputs: dict) -> dict:
    """Batch-1 outputs (1, H, W, 1) of any runtime -> {name: (H, W) float32}."""
    return {k: np.asarray(v, np.float32).reshape(np.shape(v)[1:3]) for k, v in outputs.items()
            if k in ("alpha", "trimap", "segmentation")}


def keras_runner(model):
    """The float reference, compiled once (eager calls would dominate the latency)."""
    from alphanet_tf.runtimes import KerasRuntime

    runtime = KerasRuntime(model)
    return lambda img: _maps(runtime.predict(img[None].astype(np.float32)))


def savedmodel_runners(version_dir):
    """Both serving signatures of the SavedModel, loaded as TF Serving loads it."""
    import tensorflow as tf

    from alphanet_tf.imageio import encode_png

    loaded = tf.saved_model.load(str(version_dir))
    tensor_fn = loaded.signatures["serving_image_tensor"]
    bytes_fn = loaded.signatures["serving_default"]

    def run_tensor(img):
        return _maps({k: v.numpy() for k, v in tensor_fn(image=tf.constant(img[None])).items()})

    def run_bytes(img):
        out = bytes_fn(image_bytes=tf.constant([encode_png(img)]))
        return {"alpha": out["alpha"].numpy()[0, ..., 0]}

    return {"savedmodel": run_tensor, "savedmodel-bytes": run_bytes}


def tflite_runner(path, threads=1):
    """A .tflite through the project's LiteRT runtime (it handles the uint8 input of the int8 model)."""
    from alphanet_tf.runtimes import TFLiteRuntime

    runtime = TFLiteRuntime(path, threads=threads)
    return lambda img: _maps(runtime.predict(img[None].astype(np.float32)))


def tflite_size(path) -> int:
    """The fixed input side of a .tflite (its image input is (1, S, S, 3))."""
    from ai_edge_litert.interpreter import Interpreter

    return int(Interpreter(model_path=str(path)).get_input_details()[0]["shape"][1])


def find_artifacts(artifacts_dir) -> list[tuple[str, Path]]:
    """(kind, path) of every artifact `alphanet export` writes that exists under `artifacts_dir`
    (the SavedModel once: `verify` checks both of its signatures)."""
    from export.savedmodel import latest_version

    found = []
    version_dir = latest_version(artifacts_dir)
    if version_dir is not None:
        found.append(("savedmodel", version_dir))
    found += [(kind, Path(artifacts_dir) / name) for name, kind in TFLITE_KINDS.items()
              if (Path(artifacts_dir) / name).exists()]
    return found


def file_size(path) -> int:
    """Bytes of a file, or of everything inside a folder (a SavedModel)."""
    path = Path(path)
    return path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def median_ms(fn, image, repeats: int) -> float:
    """Median wall time of `fn(image)` after one warm-up call."""
    fn(image)
    times = []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        fn(image)
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


def _summarise(kind, path, per_image, latency, extra=None) -> dict:
    keys = [k for k in per_image[0] if k not in ("l1", "float_l1", "float_sad_gt", "l1_qat_model", "qat_model_l1")]
    row = {"artifact": kind, "path": str(path), "file_bytes": file_size(path), "latency_ms": latency}
    row.update({k: float(np.mean([r[k] for r in per_image])) for k in keys})
    row["max_abs"] = float(max(r["max_abs"] for r in per_image))
    row["rel_l1"] = float(sum(r["l1"] for r in per_image) / max(sum(r["float_l1"] for r in per_image), 1e-12))
    failures = []
    gate = GATES.get(kind)
    row["gate_mean_abs"] = gate
    if gate is not None and row["mean_abs"] > gate:
        failures.append(f"mean |alpha diff| {row['mean_abs']:.2e} > {gate:g}")
    if "sad_gt" in per_image[0]:
        float_sad = float(np.mean([r["float_sad_gt"] for r in per_image]))
        row["float_sad_gt"] = float_sad
        row["sad_gt_increase"] = row["sad_gt"] / float_sad - 1.0 if float_sad > 0 else (
            0.0 if row["sad_gt"] == 0 else float("inf"))
        row["gate_sad_increase"] = SAD_GATES.get(kind)
        if row["gate_sad_increase"] is not None and row["sad_gt_increase"] > row["gate_sad_increase"]:
            failures.append(f"SAD {row['sad_gt']:.3f} is {100 * row['sad_gt_increase']:.2f} % above float's "
                            f"{float_sad:.3f} (gate {100 * row['gate_sad_increase']:g} %)")
    elif "l1_qat_model" in per_image[0]:
        row["rel_l1_qat_model"] = float(sum(r["l1_qat_model"] for r in per_image)
                                        / max(sum(r["qat_model_l1"] for r in per_image), 1e-12))
        row["gate_rel_l1_qat_model"] = QAT_MODEL_REL_L1_GATE
        if row["rel_l1_qat_model"] > QAT_MODEL_REL_L1_GATE:
            failures.append(f"sum |alpha - QAT model's alpha| is {100 * row['rel_l1_qat_model']:.2f} % of the "
                            f"QAT model's (gate {100 * QAT_MODEL_REL_L1_GATE:g} %)")
    else:
        row["gate_rel_l1"] = REL_L1_GATES.get(kind)
        if row["gate_rel_l1"] is not None and row["rel_l1"] > row["gate_rel_l1"]:
            failures.append(f"sum |alpha - float alpha| is {100 * row['rel_l1']:.2f} % of float's "
                            f"(gate {100 * row['gate_rel_l1']:g} %)")
    row["failures"] = failures
    row["passed"] = not failures
    row.update(extra or {})
    return row


def _tflite_extra(kind, path) -> dict:
    """Op checks repeated on the shipped file: builtin ops only, and the float ops left in int8."""
    from export.tflite import check_builtin_only, float_ops

    content = Path(path).read_bytes()
    extra = {"ops": sorted(check_builtin_only(content))}
    if "int8" in kind:
        extra["float_ops"] = len(float_ops(content))
    return extra


REFERENCE = "keras (float reference)"


def runners(model, artifacts_dir, threads=1) -> dict:
    """{artifact kind: (path or None, fn(uint8 image) -> maps)}, the float reference first."""
    found = {REFERENCE: (None, keras_runner(model))}
    for kind, path in find_artifacts(artifacts_dir):
        if kind == "savedmodel":
            found.update({k: (path, fn) for k, fn in savedmodel_runners(path).items()})
        else:
            found[kind] = (path, tflite_runner(path, threads))
    return found


def verify(model, artifacts_dir, images, repeats=5, model_path=None, alphas=None, threads=1,
           qat_model=None) -> dict:
    """Runs the comparison; `images` are uint8 (S, S, 3) at the artifacts' size, `alphas` (optional) their
    ground-truth mattes float32 (S, S) in [0, 1], `qat_model` (optional) the QAT Keras model the int8-QAT
    file came from. Latency at `threads` (TensorFlow's must be set already). Returns the report."""
    from alphanet_tf.metrics import matting_metrics

    found = runners(model, artifacts_dir, threads)
    _, reference = found.pop(REFERENCE)
    refs = [reference(img) for img in images]
    gts = alphas if alphas is not None else [None] * len(images)
    rows = [{"artifact": REFERENCE, "path": str(model_path or model.name),
             "file_bytes": file_size(model_path) if model_path else None,
             "latency_ms": median_ms(reference, images[0], repeats), "passed": True}]
    if alphas is not None:
        per_image = [matting_metrics(r["alpha"], gt, region="whole") for r, gt in zip(refs, alphas)]
        rows[0].update({f"{k}_gt": float(np.mean([m[k] for m in per_image])) for k in per_image[0]})
    qat_refs = None
    if qat_model is not None:
        qat_reference = keras_runner(qat_model)
        qat_refs = [qat_reference(img) for img in images]
    for kind, (path, fn) in found.items():
        outs = [fn(img) for img in images]
        per_image = [compare(ref, out, gt) for ref, out, gt in zip(refs, outs, gts)]
        if kind == "tflite-int8-qat" and qat_refs is not None:
            for row, qat_ref, out in zip(per_image, qat_refs, outs):
                to_qat = compare(qat_ref, out)
                row.update(l1_qat_model=to_qat["l1"], qat_model_l1=to_qat["float_l1"])
        extra = _tflite_extra(kind, path) if kind.startswith("tflite") else None
        rows.append(_summarise(kind, path, per_image, median_ms(fn, images[0], repeats), extra))
    for row in rows:
        row["latency_ms_by_threads"] = {str(threads): row["latency_ms"]}
    return {"size": images[0].shape[0], "images": len(images), "threads": [threads],
            "ground_truth": alphas is not None, "rows": rows, "passed": all(r["passed"] for r in rows)}


def latencies(model, artifacts_dir, image, repeats=5, threads=1) -> dict:
    """{artifact: median ms} at `threads` for every artifact (what the child process of `run` prints)."""
    return {kind: median_ms(fn, image, repeats) for kind, (_, fn) in runners(model, artifacts_dir, threads).items()}


def add_latencies(report: dict, threads: int, by_kind: dict) -> None:
    report["threads"].append(threads)
    for row in report["rows"]:
        if row["artifact"] in by_kind:
            row["latency_ms_by_threads"][str(threads)] = by_kind[row["artifact"]]


def format_table(report: dict) -> str:
    """A plain-text table of the report (also valid Markdown)."""
    threads = report["threads"]
    header = (["artifact", "size MB"] + [f"ms @{t} thr" for t in threads]
              + ["alpha mean abs diff", "alpha max abs diff", "SAD diff", "trimap disagree %"]
              + (["SAD", "MSE", "Grad", "Conn", "SAD vs float %"] if report.get("ground_truth") else
                 ["L1 vs float %"]) + ["gate"])
    title = (f"verify at {report['size']}x{report['size']}, {report['images']} images"
             + (", metrics against the ground truth over the whole image" if report.get("ground_truth") else ""))
    lines = [title, "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in report["rows"]:
        mb = "" if r.get("file_bytes") is None else f"{r['file_bytes'] / 1e6:.2f}"
        timed = r.get("latency_ms_by_threads", {})
        cells = ([r["artifact"], mb] + [_num(timed.get(str(t)), "{:.1f}") for t in threads]
                 + [_num(r.get("mean_abs"), "{:.2e}"), _num(r.get("max_abs"), "{:.3f}"), _num(r.get("sad"), "{:.4f}"),
                    _num(r.get("trimap_disagreement"), "{:.2f}", scale=100)])
        if report.get("ground_truth"):
            cells += [_num(r.get(f"{k}_gt"), f) for k, f in
                      (("sad", "{:.3f}"), ("mse", "{:.4f}"), ("grad", "{:.3f}"), ("conn", "{:.3f}"))]
            cells += [_num(r.get("sad_gt_increase"), "{:+.2f}", scale=100)]
        else:
            cells += [_num(r.get("rel_l1"), "{:.2f}", scale=100)]
        cells.append(_gate(r))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _num(value, fmt, scale=1):
    return "-" if value is None else fmt.format(value * scale)


def _gate(row) -> str:
    if "mean_abs" not in row:
        return "reference"
    limits = []
    if row.get("gate_mean_abs") is not None:
        limits.append(f"diff <= {row['gate_mean_abs']:g}")
    if row.get("gate_sad_increase") is not None:
        limits.append(f"SAD <= float +{100 * row['gate_sad_increase']:g} %")
    if row.get("gate_rel_l1") is not None:
        limits.append(f"L1 <= {100 * row['gate_rel_l1']:g} % of float")
    if row.get("gate_rel_l1_qat_model") is not None:
        limits.append(f"L1 vs QAT model {100 * row['rel_l1_qat_model']:.2f} % <= "
                      f"{100 * row['gate_rel_l1_qat_model']:g} %")
    if not limits:
        return "reported"
    return ("pass" if row["passed"] else "FAIL") + f" ({', '.join(limits)})"


def load_images(folder, size: int) -> list[np.ndarray]:
    """uint8 (size, size, 3) images from `folder` (default: the repo's samples)."""
    from export.calibration import SAMPLES_DIR, folder_images

    images = folder_images(folder or SAMPLES_DIR, size)
    if not images:
        raise ValueError(f"no images found in {folder or SAMPLES_DIR}")
    return images


def load_alphas(images_dir, alphas_dir, size: int) -> list[np.ndarray]:
    """Ground-truth alphas float32 (size, size) in [0, 1] for every image of `images_dir`, matched by stem
    and resized exactly as `load_images` resizes the images (cover, then centre crop)."""
    from alphanet_tf.imageio import cover, list_images, read_image

    by_stem = {p.stem: p for p in list_images(Path(alphas_dir), recursive=True)}
    alphas = []
    for path in list_images(Path(images_dir), recursive=True):
        if path.stem not in by_stem:
            raise ValueError(f"no ground-truth alpha for {path.name} in {alphas_dir}")
        alpha = read_image(by_stem[path.stem])[0]
        alpha = alpha[..., 0] if alpha.ndim == 3 else alpha
        alphas.append(cover(np.repeat(alpha[..., None], 3, axis=-1), (size, size))[..., 0].astype(np.float32) / 255.0)
    return alphas


def _child_latencies(model_path, artifacts_dir, images_dir, size, repeats, threads) -> dict:
    """Latencies at another thread count, from a fresh process (TensorFlow's threads are fixed per process)."""
    import subprocess

    command = [sys.executable, "-m", "export.verify", "--model", str(model_path), "--artifacts", str(artifacts_dir),
               "--size", str(size), "--repeats", str(repeats), "--threads", str(threads), "--latency-only"]
    if images_dir:
        command += ["--images", str(images_dir)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"latency at {threads} threads failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(model_arg, artifacts_dir, images_dir=None, size=None, repeats=5, alphas_dir=None, threads=(1,),
        qat_model_path=None) -> dict:
    """Loads the model and the images, verifies at `threads[0]`, times the other thread counts in child
    processes, prints the table and writes `report.md` and `report.json`."""
    import keras

    import alphanet_tf.layers  # noqa: F401  (registers the custom layers)
    from alphanet_tf.bundle import resolve_model_path

    model_path = resolve_model_path(model_arg)
    model = keras.saving.load_model(str(model_path), compile=False)
    tflites = [p for kind, p in find_artifacts(artifacts_dir) if kind.startswith("tflite")]
    size = size or (tflite_size(tflites[0]) if tflites else 512)
    images = load_images(images_dir, size)
    alphas = None
    if alphas_dir:
        if not images_dir:
            raise ValueError("--alphas needs --images (the ground truth of those images)")
        alphas = load_alphas(images_dir, alphas_dir, size)
        if len(alphas) != len(images):
            raise ValueError(f"{len(images)} images but {len(alphas)} ground-truth alphas")
    qat_model = None
    if qat_model_path and alphas is None:  # with ground truth the SAD gate applies instead
        from export.qat import load_qat_model

        if not Path(qat_model_path).exists():
            raise ValueError(f"--qat-model {qat_model_path}: not found")
        qat_model = load_qat_model(qat_model_path)
    report = verify(model, artifacts_dir, images, repeats, model_path, alphas, threads[0], qat_model)
    for count in threads[1:]:
        add_latencies(report, count, _child_latencies(model_path, artifacts_dir, images_dir, size, repeats, count))
    table = format_table(report)
    print(table)
    out = Path(artifacts_dir)
    for name, text in (("report.json", json.dumps(report, indent=2) + "\n"), ("report.md", table + "\n")):
        tmp = out / f".{name}.tmp"
        tmp.write_text(text)
        tmp.replace(out / name)
    return report


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="alphanet verify-export", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="default", help="the float .keras model the artifacts came from")
    parser.add_argument("--artifacts", required=True, metavar="DIR", help="the folder `alphanet export` wrote")
    parser.add_argument("--images", metavar="DIR", help="images to compare on (default: the repo's samples)")
    parser.add_argument("--alphas", metavar="DIR", help="ground-truth alphas of --images (by stem): SAD gates")
    parser.add_argument("--qat-model", metavar="PATH",
                        help="the QAT Keras model the int8-QAT file came from: without --alphas, that file is "
                             "gated against it (a conversion check) rather than against the float model")
    parser.add_argument("--size", type=int, help="side to compare at (default: the .tflite size, else 512)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per artifact (median)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts to time (default 1 2)")
    parser.add_argument("--latency-only", action="store_true", help=argparse.SUPPRESS)  # the child of --threads
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    set_threads(args.threads[0])
    if args.latency_only:
        return _print_latencies(args)
    try:
        report = run(args.model, args.artifacts, args.images, args.size, args.repeats, args.alphas, args.threads,
                     args.qat_model)
    except (ValueError, OSError, RuntimeError) as e:
        print(f"verify: {e}", file=sys.stderr)
        return 1
    if not report["passed"]:
        for row in report["rows"]:
            for failure in row.get("failures", []):
                print(f"verify: FAILED {row['artifact']}: {failure}", file=sys.stderr)
        return 1
    return 0


def _print_latencies(args) -> int:
    import keras

    import alphanet_tf.layers  # noqa: F401
    from alphanet_tf.bundle import resolve_model_path

    model = keras.saving.load_model(str(resolve_model_path(args.model)), compile=False)
    image = load_images(args.images, args.size)[0]
    print(json.dumps(latencies(model, args.artifacts, image, args.repeats, args.threads[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
