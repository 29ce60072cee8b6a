"""People pseudo-alpha from the RVM teacher, constrained by the ground-truth masks; cached once on disk.

    python -m training.data.pseudo_labels            # all TRAINING images of humanseg290, pennfudan and ccp
    python -m training.data.pseudo_labels --limit 5  # a quick look

For every training image (validation stems are never labelled): run Robust Video Matting
(``peers/rvm_mobilenetv3_fp32.onnx``, onnxruntime, single frame: recurrent states ``r1i..r4i`` zeros of shape
[1, 1, 1, 1]) -> teacher alpha. Keep the teacher alpha only inside a band around the GT mask edge
(``r = max(min_band, band_rate x (bbox h + bbox w) / 2)``, faded out over the band's last third), GT mask
(0/1) elsewhere: the teacher fixes the coarse mask edges (hair, fingers) but cannot invent or drop a person.
Then pymatting ``estimate_foreground_ml`` gives FG and BG colours so the sample satisfies
``image ~= alpha * fg + (1 - alpha) * bg``.

Output: ``<cache>/people_v1/<set>/<stem>.npz`` with uint8 ``alpha`` (H, W), ``fg``, ``bg`` (H, W, 3).
Resumable: images already done are skipped (files are written atomically). RVM is GPL-3.0: a teacher only,
never shipped; the labels are derived training data, never evaluation data.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from .paths import REPO_ROOT, DataNotFoundError, data_root as _data_root, run_cli
from .labels import PSEUDO_LABEL_SETS, people_cache_path
from .sources import load_person_mask
from .splits import get_splits

DEFAULT_TEACHER = REPO_ROOT.parent / "shared" / "peers" / "rvm_mobilenetv3_fp32.onnx"


def peer_model(root: Path, file: str) -> Path:
    """A teacher onnx in `peers/` beside the data root (where fetch.sh puts it), else in the shared one."""
    peers = Path(root).parent / "peers"
    return (peers if peers.is_dir() else DEFAULT_TEACHER.parent) / file


def default_teacher(root: Path) -> Path:
    """The RVM onnx beside the data root, else the shared default."""
    return peer_model(root, DEFAULT_TEACHER.name)


def teacher_session(path: Path, threads: int = 1):
    import onnxruntime as ort
    if not Path(path).is_file():
        raise DataNotFoundError(f"teacher model not found: {path}; run `../shared/fetch.sh peers` to fetch it")
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def rvm_alpha(session, image: np.ndarray, internal_side: int = 512) -> np.ndarray:
    """RVM alpha (H, W) float32 of an RGB uint8 image, single frame.

    ``downsample_ratio`` = internal_side / long side (at most 1): RVM's recommendation is an internal
    resolution of ~256-512 px (0.4 for a 1280 px frame); our images are 180-1000 px.
    """
    h, w = image.shape[:2]
    ratio = float(min(1.0, internal_side / max(h, w)))
    src = (image.astype(np.float32) / 255.0).transpose(2, 0, 1)[None]
    z = np.zeros((1, 1, 1, 1), np.float32)
    feeds = {"src": src, "r1i": z, "r2i": z, "r3i": z, "r4i": z,
             "downsample_ratio": np.array([ratio], np.float32)}
    pha = session.run(["pha"], feeds)[0]
    return np.clip(pha[0, 0], 0, 1).astype(np.float32)


def constrain(teacher: np.ndarray, mask: np.ndarray, band_rate: float = 0.05, min_band: float = 3.0):
    """Teacher alpha inside a band around the GT mask edge, GT (0/1) elsewhere; returns (alpha, radius)."""
    m = (mask > 0).astype(np.uint8)
    if not m.any():
        return np.zeros_like(teacher), 0.0
    ys, xs = np.nonzero(m)
    r = max(min_band, band_rate * ((ys.max() - ys.min() + 1) + (xs.max() - xs.min() + 1)) / 2)
    d_in = cv2.distanceTransform(m, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    d_out = cv2.distanceTransform(1 - m, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    dist = np.where(m > 0, d_in, d_out)
    ramp = max(1.0, r / 3)
    w = np.clip((r - dist) / ramp, 0, 1)
    alpha = w * teacher + (1 - w) * m
    return np.clip(alpha, 0, 1).astype(np.float32), float(r)


def label_one(session, image: np.ndarray, mask: np.ndarray, band_rate: float, min_band: float):
    from pymatting import estimate_foreground_ml
    teacher = rvm_alpha(session, image)
    alpha, r = constrain(teacher, mask, band_rate, min_band)
    a8 = np.clip(alpha * 255 + 0.5, 0, 255).astype(np.uint8)
    a8[a8 <= 2] = 0
    a8[a8 >= 253] = 255
    fg, bg = estimate_foreground_ml(image.astype(np.float64) / 255.0, a8.astype(np.float64) / 255.0,
                                    return_background=True)
    to8 = lambda x: np.clip(x * 255 + 0.5, 0, 255).astype(np.uint8)  # noqa: E731
    return a8, to8(fg), to8(bg), teacher, r


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.data.pseudo_labels", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--teacher", default=None, help=f"RVM onnx (default {DEFAULT_TEACHER})")
    ap.add_argument("--sets", nargs="+", default=list(PSEUDO_LABEL_SETS), choices=PSEUDO_LABEL_SETS)
    ap.add_argument("--threads", type=int, default=1, help="onnxruntime / numba threads")
    ap.add_argument("--band-rate", type=float, default=0.05)
    ap.add_argument("--min-band", type=float, default=3.0)
    ap.add_argument("--limit", type=int, default=0, help="label at most this many new images (0: all)")
    ap.add_argument("--overwrite", action="store_true")
    args = ap.parse_args(argv)

    os.environ.setdefault("NUMBA_NUM_THREADS", str(args.threads))
    cv2.setNumThreads(1)
    from tqdm import tqdm

    root = _data_root(args.data_root)
    teacher = Path(args.teacher) if args.teacher else default_teacher(root)
    splits = get_splits(root)
    jobs = [(s, stem) for s in args.sets for stem in splits[s]["train"]]
    todo = [(s, stem) for s, stem in jobs if args.overwrite or not people_cache_path(s, stem).is_file()]
    print(f"{len(jobs)} training images, {len(jobs) - len(todo)} already labelled, {len(todo)} to do")
    if args.limit:
        todo = todo[:args.limit]
    if not todo:
        return 0
    session = teacher_session(teacher, args.threads)
    agree, t0 = [], time.perf_counter()
    for set_name, stem in tqdm(todo, desc="RVM pseudo-labels", unit="img"):
        image, mask = load_person_mask(root, set_name, stem)
        a8, fg, bg, teacher_a, r = label_one(session, image, mask, args.band_rate, args.min_band)
        agree.append(float(((teacher_a > 0.5) == (mask > 0)).mean()))
        out = people_cache_path(set_name, stem)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.stem + ".tmp.npz")
        np.savez_compressed(tmp, alpha=a8, fg=fg, bg=bg, band_radius=np.float32(r),
                            teacher=np.array(teacher.name))
        tmp.replace(out)
    dt = time.perf_counter() - t0
    print(f"labelled {len(todo)} images in {dt:.0f} s; teacher/GT pixel agreement (alpha>0.5 vs mask) "
          f"mean {np.mean(agree):.3f}, min {np.min(agree):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
