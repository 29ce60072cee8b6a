"""`alphanet eval`: score mattes (SAD, MSE, Grad, Conn) or masks (IoU, F-measure, MAE) on a folder.

Files are matched by stem across folders. Predictions come either from a model
(``alphanet_tf.inference.Matter``, imported lazily so scoring saved predictions needs no TensorFlow)
or from a folder of saved alpha/probability images (``--predictions``), e.g. a pymatting baseline.

Exit codes: 0 all images scored, 1 some images failed (reported, the rest still scored),
2 a setup error (missing folder, nothing to match, bad option combination).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image
from tqdm import tqdm

from alphanet_tf.metrics import (
    MATTING_KEYS,
    SEGMENTATION_KEYS,
    as_mask,
    check_same_shape,
    matting_error_maps,
    reduce_error_maps,
    resolve_region,
    segmentation_metrics,
)
from alphanet_tf.preprocess import working_side

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"})
MASK_SUFFIX = "_mask"  # Penn-Fudan names the mask of X.png "X_mask.png"
CONVENTIONS = (
    "DIM: sad, grad, conn = sum over the region / 1000; mse = sum over the region / its pixel count. "
    "per_pixel: every metric summed over the whole image / its pixel count (AlphaNet paper)."
)


class EvalError(Exception):
    """A setup problem the user must fix: printed as one line, exit code 2."""


# ----------------------------------------------------------------------------- files
def index_folder(folder, what: str, strip_suffix: str | None = None) -> dict[str, Path]:
    """Maps stem -> image file in a folder (not recursive), optionally dropping a name suffix."""
    path = Path(folder)
    if not path.is_dir():
        raise EvalError(f"{what} folder not found: {path}")
    found: dict[str, Path] = {}
    for file in sorted(path.iterdir()):
        if file.suffix.lower() not in IMAGE_EXTENSIONS or not file.is_file():
            continue
        stem = file.stem
        if strip_suffix and stem.endswith(strip_suffix) and len(stem) > len(strip_suffix):
            stem = stem[: -len(strip_suffix)]
        if stem in found:
            raise EvalError(f"two {what} files for stem {stem!r}: {found[stem]} and {file}")
        found[stem] = file
    return found


def _lookup(files: dict[str, Path], stem: str, what: str) -> Path:
    """The file for a stem, or a per-image error naming what is missing."""
    if stem not in files:
        raise FileNotFoundError(f"no {what} file for {stem!r}")
    return files[stem]


def read_rgb(path) -> np.ndarray:
    """Reads an image as uint8 RGB (H, W, 3)."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def read_grey(path) -> np.ndarray:
    """Reads a single-channel map (alpha, trimap, mask, probability) at its native dtype.

    Grey images are returned as is (uint8; 16-bit as uint16); palette images as grey values.
    Colour images give one channel (ground-truth alphas store three equal channels), except a
    cut-out with a real alpha channel (not fully opaque), whose alpha channel is the matte.
    """
    with Image.open(path) as im:
        if im.mode in ("P", "PA"):
            im = im.convert("LA")
        a = np.asarray(im)
        if im.mode == "I" or im.mode.startswith("I;16"):  # 16-bit grey (Pillow may say "I")
            a = a.astype(np.uint16)
    if a.ndim == 2:
        return a
    if a.shape[2] in (2, 4) and (a[..., -1] != np.iinfo(a.dtype).max).any():
        return a[..., -1]
    return a[..., 0]


def image_size(path) -> tuple[int, int]:
    """(height, width) from the file header, without decoding the pixels."""
    with Image.open(path) as im:
        return im.height, im.width


def read_mask(path, size: tuple[int, int]) -> np.ndarray:
    """Boolean mask (any value > 0 is foreground), resized nearest to ``size`` = (H, W)."""
    mask = as_mask(read_grey(path))
    if mask.shape != size:
        mask = np.asarray(
            Image.fromarray(mask).resize((size[1], size[0]), Image.Resampling.NEAREST)
        )
    return mask


# ----------------------------------------------------------------------------- predictions
def _load_matter(model: str, max_side: int | None = None, refine: bool = True):
    """Builds the model lazily so that scoring saved predictions never imports TensorFlow."""
    if model != "default" and not Path(model).exists():
        raise EvalError(f"model not found: {model}")
    try:
        from alphanet_tf.inference import Matter

        return Matter(model=model, max_side=max_side, refine=refine)
    except Exception as e:  # noqa: BLE001 - any load failure is a setup error
        raise EvalError(f"cannot load model {model}: {_one_line(e)}") from e


def _predictor(
    task: str, folders: dict[str, dict[str, Path]], matter, mode: str
) -> Callable[[str], np.ndarray]:
    """Returns stem -> predicted map (alpha, or foreground probability for segmentation)."""
    if "predictions" in folders:
        return lambda stem: read_grey(_lookup(folders["predictions"], stem, "prediction"))
    images = folders["images"]
    if task == "segmentation":
        return lambda stem: matter.predict(read_rgb(images[stem]))["segmentation"]

    def matte(stem: str) -> np.ndarray:
        trimap = read_grey(_lookup(folders["trimaps"], stem, "trimap")) if mode == "trimap" else None
        return matter.matte(read_rgb(images[stem]), trimap=trimap)

    return matte


# ----------------------------------------------------------------------------- scoring
def _score_matting(stem: str, pred, folders, region: str) -> dict:
    """DIM metrics over the region plus the whole-image per-pixel form, from one set of maps."""
    gt = read_grey(folders["gt"][stem])
    trimap = read_grey(_lookup(folders["trimaps"], stem, "trimap")) if region == "unknown" else None
    check_same_shape(prediction=pred, gt=gt, trimap=trimap)
    maps = matting_error_maps(pred, gt)
    scores = reduce_error_maps(maps, resolve_region(trimap, region))
    scores["per_pixel"] = reduce_error_maps(maps, None, per_pixel=True)
    return scores


def _score_segmentation(stem: str, pred, folders, region: str) -> dict:
    """IoU, F-measure and MAE against the mask, resized to the image's size."""
    gt = read_mask(folders["gt"][stem], image_size(folders["images"][stem]))
    return segmentation_metrics(pred, gt)


def _mean(rows: list[dict]) -> dict:
    """Mean of each numeric key over the scored images (empty when nothing was scored)."""
    keys = [k for k, v in rows[0].items() if not isinstance(v, dict)] if rows else []
    return {k: float(np.mean([r[k] for r in rows])) for k in keys}


def _one_line(e: BaseException) -> str:
    """First line of an exception message, so every report stays one line."""
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _check_options(alphas, masks, trimaps, mode: str, region: str | None) -> tuple[str, str]:
    """Validates the option combination; returns (task, resolved region)."""
    if (alphas is None) == (masks is None):
        raise EvalError("give exactly one of --alphas (matting) or --masks (segmentation)")
    if mode not in ("auto", "trimap"):
        raise EvalError(f"--mode must be auto or trimap, got {mode!r}")
    if region not in (None, "unknown", "whole"):
        raise EvalError(f"--region must be unknown or whole, got {region!r}")
    if masks is not None:
        if mode == "trimap" or region == "unknown":
            raise EvalError("--mode trimap and --region unknown apply to --alphas only")
        return "segmentation", "whole"
    if mode == "trimap" and trimaps is None:
        raise EvalError("--mode trimap needs --trimaps")
    if region == "unknown" and trimaps is None:
        raise EvalError("--region unknown needs --trimaps")
    return "matting", region or ("unknown" if trimaps is not None else "whole")


def _index_all(images, gt, trimaps, predictions, task: str) -> dict[str, dict[str, Path]]:
    """Indexes every given folder; the ground truth is keyed "gt" (masks drop a _mask suffix)."""
    folders = {
        "images": index_folder(images, "images"),
        "gt": index_folder(gt, "masks" if task == "segmentation" else "alphas",
                           MASK_SUFFIX if task == "segmentation" else None),
    }
    if trimaps is not None:
        folders["trimaps"] = index_folder(trimaps, "trimaps")
    if predictions is not None:
        folders["predictions"] = index_folder(predictions, "predictions")
    return folders


def evaluate_folder(
    images,
    alphas=None,
    *,
    masks=None,
    trimaps=None,
    predictions=None,
    model: str = "default",
    mode: str = "auto",
    region: str | None = None,
    matter=None,
    progress: bool = True,
    max_side: int | None = None,
    refine: bool = True,
) -> dict:
    """Scores every image whose stem has both an image and a ground truth.

    Args:
        images: folder of RGB images.
        alphas: folder of ground-truth alpha mattes (matting), or
        masks: folder of ground-truth masks (segmentation; ``X_mask.png`` matches ``X``).
        trimaps: folder of 0/128/255 trimaps (for ``region="unknown"`` or ``mode="trimap"``).
        predictions: folder of saved predictions to score instead of running a model.
        model: "default" or a model path, for ``Matter``.
        mode: "auto" (model makes its own trimap) or "trimap" (the given trimap is fed to it).
        region: "unknown" or "whole"; None = "unknown" when trimaps are given, else "whole".
        matter: an already built ``Matter``-like object (skips loading ``model``).
        progress: show a tqdm progress bar (auto-hidden when stderr is not a terminal).
        max_side: long side the network sees (None: ``Matter``'s default).
        refine: refine the net's alpha as `Matter` does (given trimap: matting-Laplacian solve; automatic:
            hole filling).

    Returns:
        A JSON-ready dict: ``mean``, ``per_image`` (stem -> scores), ``failed`` (stem -> message),
        ``region``, ``mode``, ``model``, ``task`` and, for matting, ``per_pixel_mean``.

    Raises:
        EvalError: a setup problem (missing folder, no matching stems, bad options).
    """
    task, region = _check_options(alphas, masks, trimaps, mode, region)
    gt_folder = masks if task == "segmentation" else alphas
    folders = _index_all(images, gt_folder, trimaps, predictions, task)
    stems = sorted(folders["images"].keys() & folders["gt"].keys())
    if not stems:
        raise EvalError(f"no matching stems between {images} and {gt_folder}")
    if "predictions" not in folders and matter is None:
        matter = _load_matter(model, max_side, refine)
    predict = _predictor(task, folders, matter, mode)
    score = _score_segmentation if task == "segmentation" else _score_matting

    per_image, failed = {}, {}
    for stem in tqdm(stems, desc="eval", unit="img", disable=None if progress else True):
        try:
            per_image[stem] = score(stem, predict(stem), folders, region)
        except Exception as e:  # noqa: BLE001 - one bad image must not stop the run
            failed[stem] = _one_line(e)
            tqdm.write(f"alphanet eval: {stem}: {failed[stem]}", file=sys.stderr)

    result = {
        "task": task,
        "mean": _mean(list(per_image.values())),
        "per_image": per_image,
        "failed": failed,
        "count": len(per_image),
        "region": region,
        "mode": mode,
        "model": None if predictions is not None else model,
        "max_side": None if matter is None else working_side(getattr(matter, "max_side", None), mode == "trimap"),
        "predictions": None if predictions is None else str(predictions),
        "refine": None if matter is None else bool(getattr(matter, "refine", False)),
    }
    if task == "matting":
        result["per_pixel_mean"] = _mean([s["per_pixel"] for s in per_image.values()])
        result["conventions"] = CONVENTIONS
    return result


# ----------------------------------------------------------------------------- reporting
def format_table(result: dict) -> str:
    """Per-image rows and the mean, plus the per-pixel mean line for matting."""
    keys = MATTING_KEYS if result["task"] == "matting" else SEGMENTATION_KEYS
    width = max([len("image"), *(len(s) for s in result["per_image"])]) + 1
    lines = [f"{'image':<{width}}" + "".join(f"{k:>12}" for k in keys)]
    rows = [*result["per_image"].items(), ("mean", result["mean"])]
    for name, scores in rows:
        cells = "".join(f"{scores[k]:>12.5g}" if k in scores else f"{'-':>12}" for k in keys)
        lines.append(f"{name:<{width}}{cells}")
    if result.get("per_pixel_mean"):
        pp = ", ".join(f"{k} {v:.5g}" for k, v in result["per_pixel_mean"].items())
        lines.append(f"per-pixel mean over the whole image (AlphaNet paper): {pp}")
    lines.append(
        f"{result['count']} scored, {len(result['failed'])} failed; region {result['region']}"
    )
    return "\n".join(lines)


def write_json(result: dict, path) -> None:
    """Writes the result as JSON, creating the parent folder."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2) + "\n")
    except OSError as e:
        raise EvalError(f"cannot write {path}: {e.strerror or e}") from e


def build_parser() -> argparse.ArgumentParser:
    """The `alphanet eval` argument parser."""
    p = argparse.ArgumentParser(
        prog="alphanet eval",
        description="Score alpha mattes (DIM SAD/MSE/Grad/Conn) or masks (IoU/F/MAE) on a folder.",
    )
    p.add_argument("--images", required=True, help="folder of RGB images")
    gt = p.add_mutually_exclusive_group(required=True)
    gt.add_argument("--alphas", help="folder of ground-truth alpha mattes (matting)")
    gt.add_argument("--masks", help="folder of ground-truth masks (segmentation; X_mask.png = X)")
    p.add_argument("--trimaps", help="folder of 0/128/255 trimaps")
    p.add_argument("--model", default="default", help="model path or 'default'")
    p.add_argument("--predictions", help="score saved predictions in this folder instead of a model")
    p.add_argument("--mode", choices=("auto", "trimap"), default="auto",
                   help="auto: the model makes its trimap; trimap: feed --trimaps to the model")
    p.add_argument("--region", choices=("unknown", "whole"), default=None,
                   help="pixels to score (default: unknown if --trimaps is given, else whole)")
    p.add_argument("--json", help="write the results to this JSON file")
    p.add_argument("--max-side", type=int, default=None, metavar="PX",
                   help="long side the network sees (default: as `alphanet matte`)")
    p.add_argument("--no-refine", action="store_true",
                   help="score the net's matte without its refinement (as `alphanet matte --no-refine`)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Runs `alphanet eval`; returns the exit code (0 ok, 1 some images failed, 2 setup error)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # argparse reports usage errors itself (code 2) and --help (0)
        return e.code if isinstance(e.code, int) else 2
    try:
        result = evaluate_folder(
            args.images, args.alphas, masks=args.masks, trimaps=args.trimaps,
            predictions=args.predictions, model=args.model, mode=args.mode, region=args.region,
            max_side=args.max_side, refine=not args.no_refine,
        )
        print(format_table(result))
        if args.json:
            write_json(result, args.json)
    except EvalError as e:
        print(f"alphanet eval: error: {e}", file=sys.stderr)
        return 2
    return 1 if result["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
