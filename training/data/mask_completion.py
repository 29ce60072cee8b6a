"""Completes Penn-Fudan person masks with the people nobody annotated; cached once on disk.

    python -m training.data.mask_completion            # all TRAINING images of pennfudan
    python -m training.data.mask_completion --limit 5

Penn-Fudan annotates the pedestrians of each scene, not everyone in it: cyclists, people behind others and
crowds in the background are unlabelled, so the raw masks teach the segmentation net that those people are
background (about 30 % of its samples). For every training image, the RVM teacher (as in
``pseudo_labels.py``) marks people (alpha > 0.5); its connected regions that lie outside the GT mask grown by
``--margin`` px and cover at least ``--min-area`` of the image are added. The GT mask is kept as it is (the
teacher misses ~7 % of its pixels), so the completed mask is ``GT | new people``.

Measured on the 140 training images: the teacher adds 0.97 % of the pixels on average (median 0.12 %,
up to 12.3 % in crowd scenes). Validation stems are never completed: evaluation uses the official masks.

Output: ``<cache>/pennfudan_completed_v1/<stem>.png`` (0/255), written atomically; ``load_person_mask``
uses it when it exists. Resumable: done images are skipped.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from .labels import completed_mask_path
from .paths import data_root as _data_root, run_cli
from .pseudo_labels import DEFAULT_TEACHER, default_teacher, rvm_alpha, teacher_session
from .splits import get_splits

def complete(mask: np.ndarray, teacher: np.ndarray, margin: int = 4, min_area: float = 0.001) -> np.ndarray:
    """GT mask (H, W) {0,1} | teacher regions (alpha > 0.5) away from every annotated person."""
    people = (teacher > 0.5).astype(np.uint8)
    grown = cv2.dilate((mask > 0).astype(np.uint8), np.ones((2 * margin + 1,) * 2, np.uint8)) > 0
    count, labels, stats, _ = cv2.connectedComponentsWithStats(people & ~grown)
    keep = np.zeros(count, bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= min_area * mask.size
    return ((mask > 0) | keep[labels]).astype(np.uint8)


def main(argv=None) -> int:
    from tqdm import tqdm

    from .sources import load_person_mask

    ap = argparse.ArgumentParser(prog="python -m training.data.mask_completion", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--teacher", default=None, help=f"RVM onnx (default {DEFAULT_TEACHER})")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--margin", type=int, default=4, help="px around annotated people left to the GT")
    ap.add_argument("--min-area", type=float, default=0.001, help="smallest added region, fraction of image")
    ap.add_argument("--limit", type=int, default=0, help="complete at most this many new images (0: all)")
    args = ap.parse_args(argv)

    root = _data_root(args.data_root)
    teacher = Path(args.teacher) if args.teacher else default_teacher(root)
    stems = [s for s in get_splits(root)["pennfudan"]["train"] if not completed_mask_path(s).is_file()]
    stems = stems[:args.limit] if args.limit else stems
    if not stems:
        print("every Penn-Fudan training mask is already completed")
        return 0
    session = teacher_session(teacher, args.threads)
    added = []
    for stem in tqdm(stems, desc="completing Penn-Fudan masks", unit="img"):
        image, mask = load_person_mask(root, "pennfudan", stem, completed=False)
        completed = complete(mask, rvm_alpha(session, image), args.margin, args.min_area)
        added.append(float(completed.mean() - (mask > 0).mean()))
        out = completed_mask_path(stem)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.stem + ".tmp.png")
        if not cv2.imwrite(str(tmp), completed * 255):
            raise OSError(f"cannot write {tmp}")
        tmp.replace(out)
    print(f"completed {len(stems)} masks; added pixels: mean {np.mean(added):.4f}, "
          f"median {np.median(added):.4f}, max {np.max(added):.4f} of the image")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
