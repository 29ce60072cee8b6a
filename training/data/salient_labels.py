"""Salient-subject masks of the training background photos from the IS-Net teacher; cached once on disk.

    python -m training.data.salient_labels            # every TRAINING background photo
    python -m training.data.salient_labels --limit 5  # a quick look

The segmentation net has seen real photos of people only; its objects come from pasted cut-outs, whose
seams it learns to find instead of the object. Many background photos show a clear subject (an animal, a
flower, a building, a person): IS-Net (DIS, ``peers/isnet_medium.onnx``, a general salient-object
segmenter) labels it. A photo is kept as a real "photo with a subject" sample (sampler source ``salient``)
when the teacher is sure of its answer (few undecided pixels) and the subject covers a sensible share of
the photo; the rest stay backgrounds only. Kept photos are not used as composite backgrounds by the
segmentation sampler (their subject would be labelled background there).

Output: ``<cache>/salient_v1/<group>/<name>.png``, the teacher's probability as uint8, and
``<cache>/salient_v1/index.json`` with each photo's undecided and subject shares.
Resumable; files are written atomically. IS-Net is AGPL-3.0: a teacher only, never shipped; the masks are
derived training data, never evaluation data (validation backgrounds are never labelled).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from .labels import MAX_UNDECIDED, SUBJECT_SHARE, is_subject_photo, salient_index_path as index_path, salient_path
from .paths import data_root as _data_root, run_cli
from .pseudo_labels import peer_model, teacher_session
from .sources import BG_EXCLUDE, imread_rgb
from .splits import get_splits, list_items

TEACHER_FILE = "isnet_medium.onnx"
TEACHER_SIDE = 1024


def isnet_probability(session, image: np.ndarray) -> np.ndarray:
    """IS-Net's subject probability (H, W) float32 of an RGB uint8 image (imgly's pre-processing)."""
    h, w = image.shape[:2]
    x = cv2.resize(image, (TEACHER_SIDE, TEACHER_SIDE), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    x = np.ascontiguousarray(((x - 128.0) / 256.0).transpose(2, 0, 1)[None])
    p = session.run(None, {session.get_inputs()[0].name: x})[0][0, 0].astype(np.float32)
    return np.clip(cv2.resize(p, (w, h), interpolation=cv2.INTER_LINEAR), 0, 1)


def shares(p: np.ndarray) -> dict:
    """Undecided (0.1 < p < 0.9) and subject (p >= 0.5) shares of a probability map's pixels."""
    return {"undecided": round(float(((p > 0.1) & (p < 0.9)).mean()), 4),
            "subject": round(float((p >= 0.5).mean()), 4)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.data.salient_labels", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--teacher", default=None, help=f"IS-Net onnx (default peers/{TEACHER_FILE})")
    ap.add_argument("--threads", type=int, default=2, help="onnxruntime threads")
    ap.add_argument("--limit", type=int, default=0, help="label at most this many new photos (0: all)")
    args = ap.parse_args(argv)
    from tqdm import tqdm

    root = _data_root(args.data_root)
    teacher = Path(args.teacher) if args.teacher else peer_model(root, TEACHER_FILE)
    items = list_items(root)["backgrounds"]
    names = [n for n in get_splits(root)["backgrounds"]["train"] if not BG_EXCLUDE.match(n)]
    index = json.loads(index_path().read_text()) if index_path().is_file() else {}
    todo = [n for n in names if n not in index or not salient_path(n).is_file()]
    print(f"{len(names)} training background photos, {len(names) - len(todo)} already labelled, {len(todo)} to do")
    if args.limit:
        todo = todo[:args.limit]
    if todo:
        session = teacher_session(teacher, args.threads)
        t0 = time.perf_counter()
        for name in tqdm(todo, desc="IS-Net subject masks", unit="photo"):
            p = isnet_probability(session, imread_rgb(items[name]))
            out = salient_path(name)
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = out.with_name(out.stem + ".tmp.png")
            cv2.imwrite(str(tmp), np.clip(p * 255 + 0.5, 0, 255).astype(np.uint8))
            tmp.replace(out)
            index[name] = shares(p)
            tmp_index = index_path().with_suffix(".tmp")
            tmp_index.write_text(json.dumps(index, indent=1, sort_keys=True))
            tmp_index.replace(index_path())
        print(f"labelled {len(todo)} photos in {time.perf_counter() - t0:.0f} s")
    kept = sorted(n for n in names if n in index and is_subject_photo(index[n]))
    print(f"{len(kept)} of {len(names)} kept as subject photos (undecided <= {MAX_UNDECIDED:.0%}, "
          f"subject {SUBJECT_SHARE[0]:.0%}-{SUBJECT_SHARE[1]:.0%} of the photo)")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
