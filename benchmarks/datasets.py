"""The image sets a run scores: one matting set (images, alphas, optional trimaps) and any number of
segmentation sets (images, masks). Files pair up by stem, as in `alphanet eval` (its `index_folder`).

A run on a subset of stems (the validation stems of `splits.json`, or the first two in `--quick`) sees a
folder of symlinks, so `alphanet_tf.evaluation.evaluate_folder` scores exactly those images.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from alphanet_tf.evaluation import MASK_SUFFIX, index_folder

MATTING, SEGMENTATION = "matting", "segmentation"


@dataclass(frozen=True)
class Dataset:
    name: str
    task: str  # "matting" or "segmentation"
    images: Path
    gt: Path  # alphas (matting) or masks (segmentation)
    trimaps: Path | None = None
    stems: tuple[str, ...] = field(default=())

    def image_files(self) -> dict[str, Path]:
        return index_folder(self.images, "images")

    def gt_files(self) -> dict[str, Path]:
        suffix = MASK_SUFFIX if self.task == SEGMENTATION else None
        return index_folder(self.gt, "masks" if self.task == SEGMENTATION else "alphas", suffix)

    def trimap_files(self) -> dict[str, Path]:
        return index_folder(self.trimaps, "trimaps") if self.trimaps else {}


def _name_of(images: Path) -> str:
    """A set's name from its folder: ".../humanseg290/images" -> "humanseg290"."""
    images = Path(images).resolve()
    return images.parent.name if images.name == "images" else images.name


def make(name: str | None, task: str, images, gt, trimaps=None) -> Dataset:
    """A dataset over every stem that has both an image and a ground truth (and a trimap, if given)."""
    ds = Dataset(name or _name_of(images), task, Path(images), Path(gt), Path(trimaps) if trimaps else None)
    stems = ds.image_files().keys() & ds.gt_files().keys()
    if ds.trimaps:
        stems &= ds.trimap_files().keys()
    if not stems:
        also = f" and {trimaps}" if trimaps else ""
        raise FileNotFoundError(f"no stems in common between {images} and {gt}{also}")
    return replace(ds, stems=tuple(sorted(stems)))


def _link(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.is_symlink() or dest.exists():
        if dest.resolve() == src.resolve():
            return
        dest.unlink()
    os.symlink(src.resolve(), dest)


def subset(ds: Dataset, stems, root) -> Dataset:
    """The same set restricted to `stems`, as symlink folders under `root/<name>/`."""
    stems = [s for s in ds.stems if s in set(stems)]
    missing = sorted(set(stems) - set(ds.stems))
    if missing:
        raise FileNotFoundError(f"{ds.name}: no image/ground truth for stems {missing[:5]}")
    base = Path(root) / ds.name
    folders = {"images": ds.image_files(), "gt": ds.gt_files()}
    if ds.trimaps:
        folders["trimaps"] = ds.trimap_files()
    for kind, files in folders.items():
        wanted = {s: files[s] for s in stems}
        folder = base / kind
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.iterdir():  # a previous subset of other stems
            if old.is_symlink() and old not in {folder / p.name for p in wanted.values()}:
                old.unlink()
        for path in wanted.values():
            _link(path, folder / path.name)
    return replace(ds, images=base / "images", gt=base / "gt",
                   trimaps=base / "trimaps" if ds.trimaps else None, stems=tuple(stems))


def validation_sets(data_root=None) -> list[tuple[Dataset, list[str]]]:
    """(whole set, its validation stems from `splits.json`): alphamatting (with Trimap1), humanseg290,
    Penn-Fudan, CCP and DAVIS (its held-out sequences; either is left out when its folder is absent);
    `subset` turns each into the folders a run reads."""
    from training.data.paths import data_root as resolve_root
    from training.data.splits import load_split_file

    root = resolve_root(data_root)
    val = load_split_file(root)
    am = root / "alphamatting"
    sets = [(make("alphamatting", MATTING, am / "images", am / "alphas", am / "trimaps" / "Trimap1"),
             val["alphamatting"])]
    for name in ("humanseg290", "pennfudan"):
        sets.append((make(name, SEGMENTATION, root / name / "images", root / name / "masks"), val[name]))
    for name in ("ccp", "davis"):
        if (root / name / "masks").is_dir() and val.get(name):
            sets.append((make(name, SEGMENTATION, root / name / "images", root / name / "masks"), val[name]))
    return sets
