"""`alphanet export` (also `python -m export`): SavedModel for TF Serving and TFLite files, then verified.

    alphanet export --model default --out dist/
    alphanet export --model runs/matting/best.keras --out dist/ --formats tflite-fp32,tflite-int8-ptq --size 320

Exit codes: 0 written and verified, 1 a conversion or a verification gate failed, 2 bad arguments (unknown
format, a size that is not a multiple of 32, a missing model).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from alphanet_tf.preprocess import DEFAULT_MAX_SIDE, MULTIPLE

FORMATS = ("savedmodel", "tflite-fp32", "tflite-fp16", "tflite-int8-ptq", "tflite-int8-qat")
#: written when --formats is not given (int8-qat too when there is a QAT model: --qat-model)
DEFAULT_FORMATS = FORMATS[:4]
REPO_ROOT = Path(__file__).resolve().parent.parent

EXAMPLES = """\
examples:
  alphanet export --model default --out dist/
  alphanet export --model best.keras --out dist/ --formats savedmodel
  alphanet export --model best.keras --out dist/ --formats tflite-int8-ptq --size 320 --calibration-images photos/
  alphanet export --model default --qat-model runs/qat/qat.keras --out dist/ --formats tflite-int8-qat
  alphanet verify-export --model best.keras --artifacts dist/   # verify again, e.g. on a quiet machine
"""


class UsageError(ValueError):
    """Bad arguments: exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="alphanet export",
        description="Export a trained AlphaNet to a TF Serving SavedModel and TFLite files, each verified "
                    "against the float Keras model.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="default", metavar="PATH|default", help="the float .keras model")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (created if needed)")
    parser.add_argument("--formats", default=None, metavar="LIST",
                        help=f"comma-separated, from: {', '.join(FORMATS)} (default: all but tflite-int8-qat, "
                             "plus tflite-int8-qat when --qat-model is given)")
    parser.add_argument("--qat-model", metavar="PATH",
                        help="the quantization-aware model written by `alphanet qat` (OUT/qat.keras), for "
                             "tflite-int8-qat; without --verify-alphas the int8 file is verified against it "
                             "(a conversion check) and its difference from --model reported")
    parser.add_argument("--size", type=int, default=512, metavar="PX",
                        help="fixed square input side of the TFLite models, a multiple of 32 (default 512)")
    parser.add_argument("--calibration-images", metavar="DIR",
                        help="int8 calibration images (default: the repo's samples plus training composites)")
    parser.add_argument("--calibration-count", type=int, default=64, metavar="N",
                        help="training composites added to the samples when no folder is given (default 64)")
    parser.add_argument("--verify-images", metavar="DIR", help="images to verify on (default: the samples)")
    parser.add_argument("--verify-alphas", metavar="DIR",
                        help="ground-truth alphas for --verify-images (matched by stem): turns on the SAD gates")
    parser.add_argument("--no-verify", action="store_true", help="skip the verification run at the end")
    parser.add_argument("--max-side", type=int, default=DEFAULT_MAX_SIDE, metavar="PX",
                        help=f"long side the SavedModel caps images to (default {DEFAULT_MAX_SIDE})")
    parser.add_argument("--serving-base-path", default="/models/alphanet", metavar="PATH",
                        help="where TF Serving sees savedmodel/alphanet, for models.config (default: the "
                             "container path of docs/export.md)")
    return parser


def parse_formats(text: str) -> list[str]:
    """The requested formats in a fixed order; UsageError names an unknown one and the valid ones."""
    asked = [f.strip() for f in text.split(",") if f.strip()]
    unknown = [f for f in asked if f not in FORMATS]
    if unknown or not asked:
        raise UsageError(f"unknown format {', '.join(map(repr, unknown)) or '(none given)'}; "
                         f"choose from {', '.join(FORMATS)}")
    return [f for f in FORMATS if f in asked]


def check_size(size: int) -> int:
    """The TFLite side must be a positive multiple of 32 (the network's total stride)."""
    if size < MULTIPLE or size % MULTIPLE:
        raise UsageError(f"--size {size} is not a positive multiple of {MULTIPLE}")
    return size


def load_model(model_arg):
    """(keras model, resolved path); UsageError for a missing file."""
    import keras

    import alphanet_tf.layers  # noqa: F401  (registers the custom layers)
    from alphanet_tf.bundle import ModelError, resolve_model_path

    try:
        path = resolve_model_path(model_arg)
    except ModelError as e:
        raise UsageError(str(e)) from None
    return keras.saving.load_model(str(path), compile=False), path


def describe_source(path) -> str:
    """File name and sha256 of the model, recorded in the TFLite metadata (which weights is this?)."""
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return f"{Path(path).name} sha256:{digest}"


def export_savedmodel(model, out, args) -> Path:
    """Writes the TF Serving layout and checks both signatures after loading it back."""
    from alphanet_tf.imageio import cover, read_image
    from export.calibration import SAMPLES_DIR
    from export.savedmodel import check_savedmodel, export_savedmodel as write

    version_dir = write(model, out, max_side=args.max_side, base_path=args.serving_base_path)
    # An odd size, so the in-graph padding and cropping are exercised too.
    image = cover(read_image(sorted(SAMPLES_DIR.glob("*.jpg"))[0])[0], (90, 120))
    diffs = check_savedmodel(version_dir, model, image)
    print(f"savedmodel: {version_dir} (signatures checked, max diff {max(diffs.values()):.1e})")
    return version_dir


def load_qat_model(path):
    """The QAT model of `alphanet qat` (registers export.qat's layers); UsageError when it is missing or
    not a QAT model."""
    from export import qat

    if not Path(path).exists():
        raise UsageError(f"--qat-model {path}: not found")
    model = qat.load_qat_model(path)
    if not qat.is_qat_model(model):
        raise UsageError(f"--qat-model {path}: not a quantization-aware model (write one with `alphanet qat`)")
    return model


def export_qat_tflite(qat_model, out, args, source) -> Path:
    """The QAT model at the fixed size, converted with its own FakeQuant ranges (no calibration data)."""
    from export.tflite import export_tflite, write_fixed_savedmodel

    with tempfile.TemporaryDirectory(prefix="alphanet_fixed_qat_") as tmp:
        saved = write_fixed_savedmodel(qat_model, args.size, Path(tmp) / "fixed")
        path = export_tflite(saved, out, "tflite-int8-qat", args.size, source)
    print(f"tflite-int8-qat: {path} ({path.stat().st_size / 1e6:.2f} MB)")
    return path


def export_tflites(model, out, formats, args, source) -> list[Path]:
    """One fixed-size SavedModel, converted to each TFLite format."""
    from export import calibration
    from export.tflite import FORMATS as TFLITE_FORMATS, export_tflite, write_fixed_savedmodel

    wanted = [f for f in formats if f in TFLITE_FORMATS and f != "tflite-int8-qat"]
    if not wanted:
        return []
    paths = []
    with tempfile.TemporaryDirectory(prefix="alphanet_fixed_") as tmp:
        saved = write_fixed_savedmodel(model, args.size, Path(tmp) / "fixed")
        for fmt in wanted:
            representative = None
            if fmt == "tflite-int8-ptq":
                images = calibration.calibration_images(args.size, args.calibration_images, args.calibration_count)
                print(f"{fmt}: calibrating on {len(images)} images")
                representative = calibration.representative(images)
            path = export_tflite(saved, out, fmt, args.size, source, representative)
            print(f"{fmt}: {path} ({path.stat().st_size / 1e6:.2f} MB)")
            paths.append(path)
    return paths


def run_verify(model_path, out, args) -> int:
    """Verification in a fresh process: TensorFlow's thread count (1, for the latency) is fixed at start."""
    command = [sys.executable, "-m", "export.verify", "--model", str(model_path), "--artifacts", str(out),
               "--size", str(args.size)]
    if args.verify_images:
        command += ["--images", args.verify_images]
    if args.verify_alphas:
        command += ["--alphas", args.verify_alphas]
    if args.qat_model:
        command += ["--qat-model", str(args.qat_model)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run(command, env=env, check=False).returncode


def export(args) -> int:
    """Runs the whole export; returns the exit code."""
    from export.tflite import ConversionError

    if args.formats is None:
        args.formats = ",".join(DEFAULT_FORMATS + (("tflite-int8-qat",) if args.qat_model else ()))
    formats = parse_formats(args.formats)
    check_size(args.size)
    if "tflite-int8-qat" in formats and not args.qat_model:
        raise UsageError("tflite-int8-qat needs --qat-model PATH (the qat.keras written by `alphanet qat`)")
    if args.verify_alphas and not args.verify_images:
        raise UsageError("--verify-alphas needs --verify-images")
    model, model_path = load_model(args.model)
    qat_model = load_qat_model(args.qat_model) if "tflite-int8-qat" in formats else None
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        if "savedmodel" in formats:
            export_savedmodel(model, out, args)
        export_tflites(model, out, formats, args, source=describe_source(model_path))
        if qat_model is not None:
            export_qat_tflite(qat_model, out, args, source=describe_source(args.qat_model))
    except (ConversionError, AssertionError) as e:
        print(f"alphanet export: {e}", file=sys.stderr)
        return 1
    return 0 if args.no_verify else run_verify(model_path, out, args)


def main(argv=None) -> int:
    """Entry point of `alphanet export` and `python -m export`."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return export(args)
    except SystemExit as e:  # argparse: --help (0) or a malformed command line (2)
        return int(e.code or 0)
    except UsageError as e:
        print(f"alphanet export: error: {e}", file=sys.stderr)
        return 2
