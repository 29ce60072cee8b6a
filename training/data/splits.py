"""Train / validation splits of every data set.

The validation stems come from ``<data>/splits.json`` (alphamatting, humanseg290, pennfudan, backgrounds as
``kodak/kodim03``); cut-outs (from ``fetch.sh data``) use every file whose index in sorted file-name order is
divisible by 10 as validation. Everything else is training data. Nothing listed as validation ever appears
in a training list (``get_splits`` asserts it).

Example:
    >>> from training.data.splits import get_splits
    >>> s = get_splits()
    >>> len(s["alphamatting"]["train"]), len(s["alphamatting"]["val"])
    (18, 9)
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path

from .paths import FETCHED, data_root as _data_root, require_dir

IMAGE_EXTS = (".png", ".jpg", ".jpeg")
SETS = ("alphamatting", "humanseg290", "pennfudan", "backgrounds", "cutouts", "ccp", "davis", "photos")
# Real-photo sets of the subject-finding segmentation: `<set>/images` (+ `masks` for ccp and
# davis; photos have fused teacher labels, `photo_labels.py`). Empty when the folder is absent (an older
# shared/data); a sampler asked for one of them then names the missing folder.
PHOTO_SETS = {"ccp": "ccp/images", "davis": "davis/images", "photos": "photos"}
BACKGROUND_FOLDERS = ("kodak", "wikipedia", "debian")


def _natural(stem: str):
    return (0, int(stem), "") if stem.isdigit() else (1, 0, stem)


def _images(folder: Path) -> dict[str, Path]:
    return {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_EXTS}


@lru_cache(maxsize=8)
def _list_items_cached(root: str) -> dict[str, dict[str, Path]]:
    root_p = Path(root)
    out: dict[str, dict[str, Path]] = {}
    out["alphamatting"] = _images(require_dir(root_p, "alphamatting/images"))
    require_dir(root_p, "alphamatting/alphas")
    out["humanseg290"] = _images(require_dir(root_p, "humanseg290/images"))
    out["pennfudan"] = _images(require_dir(root_p, "pennfudan/images"))
    bgs: dict[str, Path] = {}
    for sub in BACKGROUND_FOLDERS:
        rel = f"backgrounds/{sub}"
        if rel in FETCHED and not (root_p / rel).is_dir():
            continue  # optional (fetch.sh data); loaders warn about it
        for stem, p in _images(require_dir(root_p, rel)).items():
            bgs[f"{sub}/{stem}"] = p
    out["backgrounds"] = bgs
    cut = root_p / "cutouts"
    out["cutouts"] = ({p.stem: p for p in sorted(cut.iterdir()) if p.suffix.lower() == ".png"}
                      if cut.is_dir() else {})
    for name, rel in PHOTO_SETS.items():
        out[name] = _images(root_p / rel) if (root_p / rel).is_dir() else {}
    return out


def davis_sequence(stem: str) -> str:
    """The DAVIS sequence of a frame stem (``goat_00012`` -> ``goat``)."""
    return stem.rsplit("_", 1)[0]


def list_items(data_root: str | os.PathLike | None = None) -> dict[str, dict[str, Path]]:
    """``{set: {stem: image path}}`` for every set; optional fetched folders that are missing are empty."""
    return _list_items_cached(str(_data_root(data_root)))


def load_split_file(data_root: str | os.PathLike | None = None) -> dict[str, list[str]]:
    """The validation stems of ``splits.json`` per set."""
    path = _data_root(data_root) / "splits.json"
    if not path.is_file():
        from .paths import DataNotFoundError
        raise DataNotFoundError(f"split file not found: {path}")
    raw = json.loads(path.read_text())
    out = {k: list(v["val"]) for k, v in raw.items() if isinstance(v, dict) and "val" in v}
    if "davis" in raw:  # whole sequences are held out, whatever frames the list names
        out["davis_sequences"] = list(raw["davis"].get("val_sequences", []))
    return out


def get_splits(data_root: str | os.PathLike | None = None) -> dict[str, dict[str, list[str]]]:
    """Train and validation item lists per set: ``{set: {"train": [stem, ...], "val": [stem, ...]}}``.

    Sets: ``alphamatting`` (``GT01``), ``humanseg290`` (``"12"``), ``pennfudan`` (``FudanPed00009``),
    ``backgrounds`` (``kodak/kodim03``, ``wikipedia/003``, ``debian/Aqua``; debian has no validation stems
    so it is training-only), ``cutouts`` (file stems; empty when ``fetch.sh data`` has not run), ``ccp``
    (``"0005"``), ``davis`` (``goat_00012``; validation = every frame of a ``val_sequences`` sequence) and
    ``photos`` (``imagenet__n02123045_tabby``); the last three are empty when their folder is absent.
    """
    items = list_items(data_root)
    val_file = load_split_file(data_root)
    out: dict[str, dict[str, list[str]]] = {}
    for name in SETS:
        stems = sorted(items[name], key=_natural)
        if name == "cutouts":
            names = sorted(p.name for p in items[name].values())
            val = {Path(n).stem for i, n in enumerate(names) if i % 10 == 0}
        else:
            val = set(val_file.get(name, []))
            if name == "davis":
                held_out = set(val_file.get("davis_sequences", []))
                val |= {st for st in stems if davis_sequence(st) in held_out}
            missing = val - set(stems)
            if missing and stems:  # an absent optional set is empty, not an error
                raise ValueError(f"splits.json lists {name} stems that do not exist: {sorted(missing)[:5]}")
        out[name] = {"train": [s for s in stems if s not in val], "val": [s for s in stems if s in val]}
        assert not set(out[name]["train"]) & set(out[name]["val"])
    return out
