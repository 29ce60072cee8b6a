"""Readers of the derived training labels cached under ``<cache>`` (``paths.cache_dir``): where each label
script writes, and which of its outputs the samplers may use. The scripts that write them
(``pseudo_labels``, ``mask_completion``, ``salient_labels``, ``photo_labels``) import from here; the data
sources import only from here, never from a script (no import circle).

* ``people_v1/<set>/<stem>.npz``: RVM pseudo-alpha of training people (``pseudo_labels.py``).
* ``pennfudan_completed_v1/<stem>.png``: Penn-Fudan masks with the people nobody annotated (``mask_completion.py``).
* ``salient_v1/``: IS-Net subject masks of training background photos and their shares (``salient_labels.py``).
* ``photo_labels_v1/``: fused teacher masks of ``data/photos`` and each photo's decision (``photo_labels.py``).
"""

from __future__ import annotations

import json
from pathlib import Path

from .paths import cache_dir, data_root as _data_root
from .splits import get_splits, list_items

PEOPLE_CACHE = "people_v1"
# Sets whose training people get RVM pseudo-alpha, for the matting samplers' people pool.
PSEUDO_LABEL_SETS = ("humanseg290", "pennfudan", "ccp")
COMPLETED_CACHE = "pennfudan_completed_v1"
SALIENT_CACHE = "salient_v1"
PHOTO_LABEL_CACHE = "photo_labels_v1"

# A background photo is a subject photo when at most this share of its pixels is undecided (0.1 < p < 0.9) ...
MAX_UNDECIDED = 0.05
# ... and its subject (p >= 0.5) covers this share of the photo.
SUBJECT_SHARE = (0.03, 0.7)


# ------------------------------------------------------------------------------------------- people / Penn-Fudan
def people_cache_path(set_name: str, stem: str) -> Path:
    return cache_dir(create=False) / PEOPLE_CACHE / set_name / f"{stem}.npz"


def people_label_files(data_root=None) -> list[tuple[str, str, Path]]:
    """Cached pseudo-labels of TRAINING people images: [(set, stem, npz path)] (empty if not computed)."""
    splits = get_splits(data_root)
    return [(s, stem, people_cache_path(s, stem)) for s in PSEUDO_LABEL_SETS for stem in splits[s]["train"]
            if people_cache_path(s, stem).is_file()]


def completed_mask_path(stem: str) -> Path:
    return cache_dir(create=False) / COMPLETED_CACHE / f"{stem}.png"


# ------------------------------------------------------------------------------------ background subject photos
def salient_path(name: str) -> Path:
    return cache_dir(create=False) / SALIENT_CACHE / f"{name}.png"


def salient_index_path() -> Path:
    return cache_dir(create=False) / SALIENT_CACHE / "index.json"


def is_subject_photo(entry: dict) -> bool:
    """The teacher is sure of its answer and the subject covers a sensible share of the photo."""
    return entry["undecided"] <= MAX_UNDECIDED and SUBJECT_SHARE[0] <= entry["subject"] <= SUBJECT_SHARE[1]


def salient_photos(data_root=None) -> list[tuple[str, Path, Path]]:
    """Kept TRAINING subject photos: [(background name, image path, probability png)]; empty if not labelled."""
    if not salient_index_path().is_file():
        return []
    index = json.loads(salient_index_path().read_text())
    root = _data_root(data_root)
    train = set(get_splits(root)["backgrounds"]["train"])
    items = list_items(root)["backgrounds"]
    return [(n, items[n], salient_path(n)) for n, v in sorted(index.items())
            if is_subject_photo(v) and n in train and n in items and salient_path(n).is_file()]


# -------------------------------------------------------------------------------------------- unlabelled photos
def photo_label_path(stem: str) -> Path:
    return cache_dir(create=False) / PHOTO_LABEL_CACHE / f"{stem}.png"


def photo_index_path() -> Path:
    return cache_dir(create=False) / PHOTO_LABEL_CACHE / "index.json"


def photo_group(stem: str) -> str:
    """The photo's source group: ``people``, ``imagenet``, ``clothing`` or ``grocery``."""
    return stem.split("__", 1)[0]


def kept_photos(root: Path, stems) -> list[tuple[str, Path, Path]]:
    """[(stem, photo path, fused label path)] of the given stems the fusion rule kept; empty before labelling."""
    if not photo_index_path().is_file():
        return []
    index = json.loads(photo_index_path().read_text())
    photos = list_items(root)["photos"]
    return [(stem, photos[stem], photo_label_path(stem)) for stem in stems
            if index.get(stem, {}).get("kept") and stem in photos and photo_label_path(stem).is_file()]
