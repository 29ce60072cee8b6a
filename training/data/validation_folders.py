"""Writes the validation stems of every set as plain image / ground-truth folders for `alphanet eval`.

    python -m training.data.validation_folders OUT          # OUT/<set>/{images,alphas|masks,trimaps}
    python -m training.data.validation_folders OUT --training-photos   # + OUT/alphamatting_train

`alphanet eval` and the benchmarks match files by stem inside folders; the shared data keeps training and
validation side by side, so this links (or, for the cut-outs, composites) only the validation stems:

* ``alphamatting/``: images, alphas, trimaps (the official Trimap1), symlinks.
* ``humanseg290/``, ``pennfudan/``: images and masks (masks as 0/255 PNG at the image size; Penn-Fudan
  instances merged), so every tool reads them the same way.
* ``ccp/``, ``davis/``: images and masks (0/255 PNG) of the validation stems (DAVIS: the held-out sequences).
* ``photos_<group>/`` (``people``, ``imagenet``, ``clothing``, ``grocery``): the validation photos the
  teacher-fusion rule kept (``photo_labels.py``) and their fused label >= 0.5 as the mask: agreement with
  the teachers, not ground truth.
* ``cutouts/``: every validation cut-out composited over a validation background without people at a fixed
  seed (images, alphas; the alpha is exact): generic objects, the closest thing to unseen catalogue photos we have.
* ``alphamatting_train/`` (``--training-photos``): the 18 *training* photos in the same form, where
  inference-time settings (the guided filter's radius, the refinement's prior weight) are chosen so that
  the validation photos stay unseen.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import cv2
import numpy as np

from .paths import data_root as _data_root
from .labels import kept_photos, photo_group
from .sources import BG_WITH_PEOPLE, load_labelled_photo, load_mask_photo, load_person_mask
from .splits import get_splits, list_items

CUTOUT_CANVAS = 512  # long side of the cut-out composites


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.is_symlink() or dst.exists():
        dst.unlink()
    os.symlink(src.resolve(), dst)


def _write(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.png")
    if not cv2.imwrite(str(tmp), array):
        raise OSError(f"cannot write {path}")
    os.replace(tmp, path)


def write_alphamatting(root: Path, out: Path, stems) -> int:
    base = root / "alphamatting"
    for stem in stems:
        _link(base / "images" / f"{stem}.png", out / "images" / f"{stem}.png")
        _link(base / "alphas" / f"{stem}.png", out / "alphas" / f"{stem}.png")
        _link(base / "trimaps" / "Trimap1" / f"{stem}.png", out / "trimaps" / f"{stem}.png")
    return len(stems)


def write_people(root: Path, out: Path, set_name: str, stems) -> int:
    """Images (symlinks) and 0/255 masks of a mask set: HumanSeg290, Penn-Fudan (instances merged), CCP, DAVIS."""
    items = list_items(root)[set_name]
    for stem in stems:
        if set_name in ("ccp", "davis"):
            _, mask = load_mask_photo(root, set_name, stem)
        else:
            _, mask = load_person_mask(root, set_name, stem)
        _link(items[stem], out / "images" / items[stem].name)
        _write(out / "masks" / f"{stem}.png", mask * 255)
    return len(stems)


def write_labelled_photos(root: Path, out: Path, stems) -> dict[str, int]:
    """``out/photos_<group>``: the kept validation photos and their fused teacher masks; {folder: count}."""
    counts: dict[str, int] = {}
    for stem, image_path, label_path in kept_photos(root, stems):
        folder = f"photos_{photo_group(stem)}"
        _, mask = load_labelled_photo(image_path, label_path)
        _link(image_path, out / folder / "images" / image_path.name)
        _write(out / folder / "masks" / f"{stem}.png", mask * 255)
        counts[folder] = counts.get(folder, 0) + 1
    return counts


def composite_cutout(rgba: np.ndarray, background: np.ndarray, rng: np.random.Generator):
    """(image uint8 RGB, alpha uint8) of a cut-out scaled to 45-70 % of a 512 px canvas at a random spot."""
    bh, bw = background.shape[:2]
    scale = CUTOUT_CANVAS / max(bh, bw)
    bg = cv2.resize(background, (round(bw * scale), round(bh * scale)), interpolation=cv2.INTER_AREA)
    h, w = bg.shape[:2]
    fh, fw = rgba.shape[:2]
    s = rng.uniform(0.45, 0.7) * min(h / fh, w / fw)
    fg = cv2.resize(rgba, (max(1, round(fw * s)), max(1, round(fh * s))), interpolation=cv2.INTER_AREA)
    fh, fw = fg.shape[:2]
    y, x = int(rng.integers(0, h - fh + 1)), int(rng.integers(0, w - fw + 1))
    alpha = np.zeros((h, w), np.float32)
    alpha[y:y + fh, x:x + fw] = fg[..., 3] / 255.0
    colour = bg.astype(np.float32)
    colour[y:y + fh, x:x + fw] = fg[..., :3]
    image = alpha[..., None] * colour + (1 - alpha[..., None]) * bg.astype(np.float32)
    return np.clip(image + 0.5, 0, 255).astype(np.uint8), np.clip(alpha * 255 + 0.5, 0, 255).astype(np.uint8)


def write_cutouts(root: Path, out: Path, stems, background_stems, seed: int = 0) -> int:
    items = list_items(root)
    backgrounds = [items["backgrounds"][s] for s in background_stems]
    for i, stem in enumerate(stems):
        rng = np.random.default_rng([seed, i])
        rgba = cv2.imread(str(items["cutouts"][stem]), cv2.IMREAD_UNCHANGED)
        if rgba is None or rgba.ndim != 3 or rgba.shape[2] != 4:
            raise ValueError(f"{items['cutouts'][stem]}: not an RGBA image")
        rgba = cv2.cvtColor(rgba, cv2.COLOR_BGRA2RGBA)
        bg = cv2.cvtColor(cv2.imread(str(backgrounds[int(rng.integers(len(backgrounds)))])), cv2.COLOR_BGR2RGB)
        image, alpha = composite_cutout(rgba, bg, rng)
        _write(out / "images" / f"{stem}.png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        _write(out / "alphas" / f"{stem}.png", alpha)
    return len(stems)


def write_validation_folders(out, data_root=None, training_photos=False) -> dict[str, int]:
    """Writes every set's validation folders under `out` (and the alphamatting training photos with
    `training_photos`); returns {set: number of items}."""
    root, out = _data_root(data_root), Path(out)
    splits = get_splits(root)
    counts = {
        "alphamatting": write_alphamatting(root, out / "alphamatting", splits["alphamatting"]["val"]),
        "humanseg290": write_people(root, out / "humanseg290", "humanseg290", splits["humanseg290"]["val"]),
        "pennfudan": write_people(root, out / "pennfudan", "pennfudan", splits["pennfudan"]["val"]),
    }
    for set_name in ("ccp", "davis"):
        if splits[set_name]["val"]:
            counts[set_name] = write_people(root, out / set_name, set_name, splits[set_name]["val"])
    counts.update(write_labelled_photos(root, out, splits["photos"]["val"]))
    if splits["cutouts"]["val"]:
        counts["cutouts"] = write_cutouts(root, out / "cutouts", splits["cutouts"]["val"],
                                          [b for b in splits["backgrounds"]["val"] if b not in BG_WITH_PEOPLE])
    if training_photos:
        counts["alphamatting_train"] = write_alphamatting(root, out / "alphamatting_train",
                                                          splits["alphamatting"]["train"])
    return counts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.data.validation_folders", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", help="output folder")
    parser.add_argument("--data-root", help="shared data folder (default $ALPHANET_DATA or ../shared/data)")
    parser.add_argument("--training-photos", action="store_true",
                        help="also OUT/alphamatting_train: the alphamatting training photos, for tuning")
    args = parser.parse_args(argv)
    for name, n in write_validation_folders(args.out, args.data_root, args.training_photos).items():
        print(f"{Path(args.out) / name}: {n} items")
    return 0


if __name__ == "__main__":
    sys.exit(main())
