"""Fused teacher masks of the unlabelled subject photos (``data/photos``); deterministic, cached once on disk.

    python -m training.data.photo_labels              # every photo (training and validation stems)
    python -m training.data.photo_labels --measure 40 # also measure the rule on real masks (runs the teachers)

``data/photo_labels/<teacher>/<stem>.png`` holds two teachers' soft masks, made with the peers' own
pre-processing: IS-Net medium (salient object, every photo) and RVM (people matting, ``people__*`` only).
Teacher output is not truth, so each photo gets a decision (``rule`` in the index) and, when kept, a mask:

* people (``people__*``): both teachers must agree. Kept when the IoU of their masks (p >= 0.5) is at least
  ``PEOPLE_MIN_IOU``; the label is their mean. One teacher alone is not enough: RVM finds people only,
  IS-Net also takes the bag on the bench.
* everything else: IS-Net alone, kept only where it is confident and finds one main subject: at most
  ``MAX_UNDECIDED`` of the subject's area undecided (0.1 < p < 0.9), the subject covering
  ``SUBJECT_SHARE`` of the photo, and its largest connected part holding ``MAIN_COMPONENT`` of it (a crowd or
  a pile of produce is skipped).

Output: ``<cache>/photo_labels_v1/<stem>.png`` (the fused probability, uint8, at the teacher labels' size)
and ``<cache>/photo_labels_v1/index.json`` ({stem: {rule, kept, ...figures}}). Validation photos are
labelled too, for evaluation against the fused label only (``photos`` val IoU); training never reads them.

``--measure N`` runs the same teachers (``../shared/fetch.sh peers``) on N training images of ``ccp`` (the
people rule) and of ``davis`` (the object rule, sampled across sequences) and reports the fused label's IoU
against their real masks and how many the rule keeps; it writes nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from .labels import PHOTO_LABEL_CACHE, photo_group as group_of, photo_index_path as index_path
from .labels import photo_label_path as label_path
from alphanet_tf.metrics import iou as mask_iou

from .paths import cache_dir, data_root as _data_root, require_dir, run_cli
from .sources import imread_gray, load_mask_photo

PEOPLE_MIN_IOU = 0.85
MAX_UNDECIDED = 0.25
SUBJECT_SHARE = (0.02, 0.85)
MAIN_COMPONENT = 0.9


def fuse(isnet: np.ndarray, rvm: np.ndarray | None) -> tuple[np.ndarray | None, dict]:
    """(fused probability float32 or None when skipped, figures) of one photo's teacher masks in [0, 1].

    With ``rvm`` (a people photo) the people rule, else the object rule (see the module docstring)."""
    if rvm is not None:
        iou = mask_iou(isnet >= 0.5, rvm >= 0.5)
        kept = iou >= PEOPLE_MIN_IOU
        return ((isnet + rvm) / 2 if kept else None), {"rule": "people", "kept": bool(kept),
                                                      "teacher_iou": round(iou, 4)}
    subject = isnet >= 0.5
    area = int(subject.sum())
    share = area / subject.size
    undecided = float(((isnet > 0.1) & (isnet < 0.9)).sum() / max(area, 1))
    main = 0.0
    if area:
        n, labels, stats, _ = cv2.connectedComponentsWithStats(subject.astype(np.uint8), connectivity=8)
        main = float(stats[1:, cv2.CC_STAT_AREA].max() / area) if n > 1 else 0.0
    kept = (undecided <= MAX_UNDECIDED and SUBJECT_SHARE[0] <= share <= SUBJECT_SHARE[1]
            and main >= MAIN_COMPONENT)
    return (isnet if kept else None), {"rule": "object", "kept": bool(kept), "subject": round(share, 4),
                                       "undecided": round(undecided, 4), "main_component": round(main, 4)}


def _read_teacher(root: Path, teacher: str, stem: str) -> np.ndarray | None:
    path = root / "photo_labels" / teacher / f"{stem}.png"
    if not path.is_file():
        return None
    return imread_gray(path).astype(np.float32) / 255.0


def label_photos(root: Path, progress: bool = True) -> dict:
    """Fuses every photo's teacher masks into the cache (atomic writes, deterministic); returns the index."""
    photos = require_dir(root, "photos")
    require_dir(root, "photo_labels/isnet_medium")
    stems = sorted(p.stem for p in photos.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    out_dir = cache_dir() / PHOTO_LABEL_CACHE
    out_dir.mkdir(parents=True, exist_ok=True)
    index = {}
    it = stems
    if progress:
        from tqdm import tqdm
        it = tqdm(stems, desc="fusing teacher masks", unit="photo")
    for stem in it:
        isnet = _read_teacher(root, "isnet_medium", stem)
        if isnet is None:
            index[stem] = {"rule": "missing", "kept": False}
            continue
        rvm = _read_teacher(root, "rvm_mnv3", stem) if stem.startswith("people__") else None
        if rvm is not None and rvm.shape != isnet.shape:
            rvm = cv2.resize(rvm, isnet.shape[::-1], interpolation=cv2.INTER_LINEAR)
        fused, figures = fuse(isnet, rvm)
        index[stem] = figures
        path = label_path(stem)
        if fused is not None:
            tmp = path.with_name(path.stem + ".tmp.png")
            cv2.imwrite(str(tmp), np.clip(fused * 255 + 0.5, 0, 255).astype(np.uint8))
            tmp.replace(path)
        elif path.exists():
            path.unlink()
    tmp = index_path().with_suffix(".tmp")
    tmp.write_text(json.dumps(index, indent=1, sort_keys=True))
    tmp.replace(index_path())
    return index


def summary(index: dict, val: set[str]) -> list[str]:
    lines = []
    for group in sorted({group_of(s) for s in index}):
        for split, in_split in (("train", False), ("val", True)):
            stems = [s for s in index if group_of(s) == group and (s in val) == in_split]
            kept = sum(index[s]["kept"] for s in stems)
            lines.append(f"{group:9s} {split:5s}: kept {kept:4d} of {len(stems):4d}")
    return lines


def measure(root: Path, n: int, threads: int) -> list[str]:
    """Runs the teachers on n training images of ccp (people rule) and davis (object rule): rule's keep
    rate and the kept fused labels' IoU against the real masks."""
    from .pseudo_labels import peer_model, rvm_alpha, teacher_session
    from .salient_labels import isnet_probability
    from .splits import get_splits

    splits = get_splits(root)
    isnet = teacher_session(peer_model(root, "isnet_medium.onnx"), threads)
    rvm = teacher_session(peer_model(root, "rvm_mobilenetv3_fp32.onnx"), threads)
    lines = []
    for set_name, people in (("ccp", True), ("davis", False)):
        stems = splits[set_name]["train"]
        pick = [stems[i] for i in np.linspace(0, len(stems) - 1, min(n, len(stems))).round().astype(int)]
        kept_ious, teacher_only = [], []
        for stem in pick:
            image, mask = load_mask_photo(root, set_name, stem)
            small = _teacher_size(image)
            p_isnet = _roundtrip(isnet_probability(isnet, small))
            p_rvm = _roundtrip(rvm_alpha(rvm, small)) if people else None
            fused, _ = fuse(p_isnet, p_rvm)
            up = lambda p: cv2.resize(p, mask.shape[::-1], interpolation=cv2.INTER_LINEAR) >= 0.5  # noqa: E731
            teacher_only.append(mask_iou(up(p_isnet), mask))
            if fused is not None:
                kept_ious.append(mask_iou(up(fused), mask))
        rule = "people (RVM + IS-Net)" if people else "object (IS-Net)"
        lines.append(f"{set_name} train, {len(pick)} images, {rule} rule: kept {len(kept_ious)} "
                     f"({len(kept_ious) / len(pick):.0%}); fused IoU vs real masks, kept: "
                     f"mean {np.mean(kept_ious) if kept_ious else float('nan'):.3f}, "
                     f"min {np.min(kept_ious) if kept_ious else float('nan'):.3f}; "
                     f"IS-Net alone on all: mean {np.mean(teacher_only):.3f}")
    return lines


def _teacher_size(image: np.ndarray, long_side: int = 448) -> np.ndarray:
    """The photo at the photos set's size (long side <= 448), as the teachers saw those."""
    s = long_side / max(image.shape[:2])
    return cv2.resize(image, None, fx=s, fy=s, interpolation=cv2.INTER_AREA) if s < 1 else image


def _roundtrip(p: np.ndarray) -> np.ndarray:
    """As stored in photo_labels: 8-bit, long side <= 320, back at the input size."""
    h, w = p.shape
    s = min(1.0, 320 / max(h, w))
    q = np.round(cv2.resize(p, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA) * 255)
    return cv2.resize(q.astype(np.float32) / 255.0, (w, h), interpolation=cv2.INTER_LINEAR)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.data.photo_labels", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--measure", type=int, default=0, metavar="N",
                    help="also run the teachers on N ccp and N davis training images and measure the rule")
    ap.add_argument("--threads", type=int, default=1, help="onnxruntime threads for --measure")
    args = ap.parse_args(argv)
    from .splits import load_split_file

    root = _data_root(args.data_root)
    t0 = time.perf_counter()
    index = label_photos(root)
    val = set(load_split_file(root).get("photos", []))
    print(f"fused {len(index)} photos in {time.perf_counter() - t0:.0f} s -> {index_path().parent}")
    print("\n".join(summary(index, val)))
    if args.measure:
        print("\n".join(measure(root, args.measure, args.threads)))
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
