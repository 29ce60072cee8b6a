"""`python -m benchmarks.validation_table`: one or more models, automatic mode, on every validation folder.

    python -m training.data.validation_folders runs/val
    python -m benchmarks.validation_table runs/val --model default --model runs/candidate.keras --json t.json

Candidates are chosen on all validation sets together, never on one. Each folder of ``validation_folders``
is scored as ``alphanet eval`` scores it: mask sets (HumanSeg290, Penn-Fudan, CCP, DAVIS, the photos' fused
teacher labels) by the IoU of the automatic alpha >= 0.5, matting sets (alphamatting.com, pasted cut-outs)
by whole-image SAD. Printed as one table, a row per model; the last column is the mean rank over the sets
(1 = best on every set), the one number that weighs every set the same.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

MASK_SETS = ("humanseg290", "pennfudan", "ccp", "davis", "photos_people", "photos_imagenet", "photos_clothing",
             "photos_grocery")
MATTING_SETS = ("alphamatting", "cutouts")


def alpha_mask_iou(matter, images: Path, masks: Path) -> float:
    """Mean IoU of the automatic alpha >= 0.5 against the masks (the product's output, as the benchmarks
    score it; `alphanet eval --masks` scores the segmentation net's probability instead)."""
    from alphanet_tf.evaluation import MASK_SUFFIX, image_size, index_folder, read_mask, read_rgb
    from alphanet_tf.metrics import segmentation_metrics

    image_files = index_folder(images, "images")
    mask_files = index_folder(masks, "masks", MASK_SUFFIX)
    stems = sorted(image_files.keys() & mask_files.keys())
    scores = [segmentation_metrics(matter.matte(read_rgb(image_files[s])),
                                   read_mask(mask_files[s], image_size(image_files[s])))["iou"] for s in stems]
    return float(np.mean(scores))


def score_model(matter, root: Path) -> dict[str, float]:
    """{set: IoU (mask sets) or SAD (matting sets)} of one model over the folders present under `root`."""
    from alphanet_tf.evaluation import evaluate_folder

    out = {}
    for name in MASK_SETS + MATTING_SETS:
        folder = root / name
        if not (folder / "images").is_dir():
            continue
        if name in MASK_SETS:
            out[name] = alpha_mask_iou(matter, folder / "images", folder / "masks")
        else:
            result = evaluate_folder(folder / "images", folder / "alphas", matter=matter, region="whole",
                                     progress=False)
            out[name] = result["mean"]["sad"]
    return out


def mean_ranks(rows: dict[str, dict[str, float]]) -> dict[str, float]:
    """Each model's mean rank over the sets (IoU: higher is better, SAD: lower is better; ties share)."""
    models = list(rows)
    sets = sorted(set.intersection(*(set(r) for r in rows.values()))) if rows else []
    ranks = {m: [] for m in models}
    for s in sets:
        values = np.array([rows[m][s] for m in models])
        key = -values if s in MASK_SETS else values
        for m, v in zip(models, key):
            ranks[m].append(1 + float(np.sum(key < v)) + 0.5 * float(np.sum(key == v) - 1))
    return {m: float(np.mean(r)) if r else float("nan") for m, r in ranks.items()}


def format_rows(rows: dict[str, dict[str, float]]) -> str:
    sets = [s for s in MASK_SETS + MATTING_SETS if any(s in r for r in rows.values())]
    ranks = mean_ranks(rows)
    head = ["model"] + [f"{s} {'IoU' if s in MASK_SETS else 'SAD'}" for s in sets] + ["mean rank"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for model, row in rows.items():
        cells = [f"{row[s]:.3f}" if s in MASK_SETS else f"{row[s]:.2f}" for s in sets]
        lines.append("| " + " | ".join([model, *cells, f"{ranks[model]:.2f}"]) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.validation_table", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("root", help="the folder `python -m training.data.validation_folders` wrote")
    parser.add_argument("--model", action="append", default=[], help="'default' or a model path (repeat)")
    parser.add_argument("--no-refine", action="store_true", help="without hole filling (`--no-refine`)")
    parser.add_argument("--json", help="also write {model: {set: figure}} here")
    args = parser.parse_args(argv)
    from alphanet_tf.inference import Matter
    from alphanet_tf.runtimes import ModelError

    root = Path(args.root)
    if not root.is_dir():
        print(f"error: validation folder not found: {root}", file=sys.stderr)
        return 2
    rows = {}
    for model in args.model or ["default"]:
        try:
            matter = Matter(model, refine=not args.no_refine)
        except (ModelError, FileNotFoundError, ValueError) as error:
            print(f"error: {model}: {error}", file=sys.stderr)
            return 2
        rows[model] = score_model(matter, root)
        print(f"{model}: " + ", ".join(f"{k} {v:.4f}" for k, v in rows[model].items()), flush=True)
    print(format_rows(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
