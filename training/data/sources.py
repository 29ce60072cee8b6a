"""Loading and caching the raw material the samplers draw from.

Everything is loaded lazily, once per process, into a module-level cache shared by every sampler (thread
safe: ``tf.data`` calls the samplers from several threads). Images are RGB ``uint8``.

* ``Layer``: a foreground (straight colour ``fg``, ``alpha``) in its own pixel grid, optionally with its own
  background ``bg`` (real scenes: alphamatting photos, people pseudo-labels), plus precomputed anchor points
  on the matte's edge (for crops around the unknown band) and which image borders the matte touches.
* Alphamatting foreground/background colours: pymatting ``estimate_foreground_ml`` computed once and cached
  in ``<cache>/alphamatting_fg/<stem>.npz`` (keyed by a hash of the image and alpha files).
* Cut-outs (``fetch.sh data``): RGBA PNGs, cropped to the object; colours under alpha = 0 are filled by
  push-pull colour bleeding so resampled edges do not pull in black/white halo colours.
* Backgrounds: long side capped at ``BG_MAX_SIDE``; a few non-photographic or redundant OpenCV sample images
  in ``backgrounds/debian`` (chessboards, logos, text, synthetic shapes) are excluded (``BG_EXCLUDE``), and
  ``BG_WITH_PEOPLE`` lists photos showing people prominently (not used under segmentation composites, where
  a person in the background would be labelled 0).
* People pseudo-labels: ``<cache>/people_v1/<set>/<stem>.npz`` written by ``python -m training.data.pseudo_labels``
  (where every derived label lives and which are usable: ``labels.py``).
* Real subject photos: ``ccp`` and ``davis`` with their masks (``load_mask_photo``; DAVIS frames
  grouped by sequence) and ``photos`` with the fused teacher labels of ``photo_labels.py``
  (``load_labelled_photo``; only the photos its rule kept).
* Subject photos (``Pools.salient``, only when asked for): training backgrounds whose subject the IS-Net
  teacher labelled, ``<cache>/salient_v1/`` written by ``python -m training.data.salient_labels``.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .labels import completed_mask_path, kept_photos, people_label_files, salient_photos
from .paths import cache_dir, data_root as _data_root, optional_dir
from .splits import davis_sequence, get_splits, list_items

cv2.setNumThreads(1)

BG_MAX_SIDE = 1280
CUTOUT_MIN_SIDE = 48
FG_CACHE_VERSION = "alphamatting_fg"
PEOPLE_SETS = ("humanseg290", "pennfudan")
# Some alphamatting mattes (GT27 most) carry 1-3/255 noise far from the object; it would turn whole crops
# into "unknown". Values <= ALPHA_NOISE are set to 0 (the composite is built from the cleaned alpha).
ALPHA_NOISE = 3

# OpenCV sample images in backgrounds/debian that are not natural photographs or near-duplicates: chessboard
# calibration shots (with a person), logos, text, synthetic ellipses, clip-art, a football player.
BG_EXCLUDE = re.compile(
    r"^debian/((left|right)\d*|messi5|ellipses|pca_test1|text_.*|LinuxLogo|WindowsLogo|HappyFish|"
    r"ela_modified|aloeR|leuvenB)$")
# Backgrounds with prominent people (fine under matting composites, not under segmentation composites).
BG_WITH_PEOPLE = frozenset({
    "kodak/kodim04", "kodak/kodim05", "kodak/kodim12", "kodak/kodim14", "kodak/kodim15", "kodak/kodim18",
    "wikipedia/020", "wikipedia/025", "wikipedia/027", "wikipedia/029", "wikipedia/035", "wikipedia/037",
    "wikipedia/038", "wikipedia/044", "wikipedia/045"})

_lock = threading.RLock()
_cache: dict[tuple, object] = {}


def _cached(key: tuple, make):
    """``make()`` once per key per process (double-checked under a lock)."""
    try:
        return _cache[key]
    except KeyError:
        pass
    with _lock:
        if key not in _cache:
            _cache[key] = make()
        return _cache[key]


def imread_rgb(path: Path | str, flags=cv2.IMREAD_COLOR) -> np.ndarray:
    img = cv2.imread(str(path), flags)
    if img is None:
        raise OSError(f"cannot read image {path}")
    if img.ndim == 3 and img.shape[2] == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    elif img.ndim == 3 and img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGBA)
    return img


def imread_gray(path: Path | str) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise OSError(f"cannot read image {path}")
    if img.ndim == 3:
        img = img[..., 0]
    return img


@dataclass
class Layer:
    """A foreground in its own pixel grid. ``fg``/``bg``: RGB uint8, ``alpha``: uint8 (H, W)."""

    fg: np.ndarray
    alpha: np.ndarray
    bg: np.ndarray | None = None
    name: str = ""
    edge_pts: np.ndarray = field(default=None)  # (N, 2) float32 (x, y) points on the matte's edge band
    bbox: tuple[int, int, int, int] = (0, 0, 0, 0)  # x0, y0, x1, y1 (exclusive) of alpha > 0
    touches: tuple[bool, bool, bool, bool] = (False, False, False, False)  # left, top, right, bottom

    def __post_init__(self):
        a = self.alpha
        h, w = a.shape
        ys, xs = np.nonzero(a > 0)
        if len(xs):
            self.bbox = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
        else:
            self.bbox = (0, 0, w, h)
        if self.edge_pts is None:
            self.edge_pts = edge_points(a)
        solid = a > 127
        frac = lambda v: float(v.mean()) if v.size else 0.0  # noqa: E731
        self.touches = (frac(solid[:, 0]) > 0.02, frac(solid[0]) > 0.02,
                        frac(solid[:, -1]) > 0.02, frac(solid[-1]) > 0.02)

    @property
    def long_side(self) -> int:
        x0, y0, x1, y1 = self.bbox
        return max(x1 - x0, y1 - y0, 1)


def edge_points(alpha: np.ndarray, max_points: int = 4096, seed: int = 0) -> np.ndarray:
    """Up to ``max_points`` (x, y) points where the matte is soft (0 < a < 1) or on the a > 0.5 boundary."""
    soft = (alpha > 0) & (alpha < 255)
    solid = (alpha > 127).astype(np.uint8)
    k = np.ones((3, 3), np.uint8)
    boundary = cv2.dilate(solid, k).astype(bool) & ~cv2.erode(solid, k).astype(bool)
    ys, xs = np.nonzero(soft | boundary)
    if len(xs) == 0:
        h, w = alpha.shape
        return np.array([[w / 2, h / 2]], np.float32)
    pts = np.stack([xs, ys], 1).astype(np.float32)
    if len(pts) > max_points:
        pts = pts[np.random.default_rng(seed).choice(len(pts), max_points, replace=False)]
    return pts


def bleed_colours(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Fill the colour of fully transparent pixels from nearby visible ones (push-pull pyramid), uint8 RGB."""
    w = (alpha > 0).astype(np.float32)
    if w.all():
        return rgb
    prem = rgb.astype(np.float32) * w[..., None]
    levels = []
    p, ww = prem, w
    while min(ww.shape) > 1:
        levels.append((p, ww))
        h, wd = ww.shape
        size = (max(1, wd // 2), max(1, h // 2))
        p = cv2.resize(p, size, interpolation=cv2.INTER_AREA)
        ww = cv2.resize(ww, size, interpolation=cv2.INTER_AREA)
        if p.ndim == 2:
            p = p[..., None]
    colour = p / np.maximum(ww[..., None], 1e-6) if ww.max() > 0 else np.full_like(p, 128.0)
    for p, ww in reversed(levels):
        up = cv2.resize(colour, (ww.shape[1], ww.shape[0]), interpolation=cv2.INTER_LINEAR)
        if up.ndim == 2:
            up = up[..., None]
        own = p / np.maximum(ww[..., None], 1e-6)
        t = np.clip(ww * 4.0, 0, 1)[..., None]
        colour = own * t + up * (1 - t)
    out = np.where(w[..., None] > 0, rgb.astype(np.float32), colour)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------------------------- alphamatting

def _file_key(*paths: Path) -> str:
    h = hashlib.sha1()
    for p in paths:
        h.update(Path(p).read_bytes())
    return h.hexdigest()[:16]


def alphamatting_fg_path(stem: str) -> Path:
    return cache_dir() / FG_CACHE_VERSION / f"{stem}.npz"


def ensure_alphamatting_foregrounds(data_root=None, stems=None, progress: bool = True) -> list[Path]:
    """Estimate (once) and cache FG/BG colours of alphamatting images with pymatting; return the npz paths."""
    root = _data_root(data_root)
    items = list_items(root)["alphamatting"]
    stems = sorted(items) if stems is None else list(stems)
    todo, paths = [], []
    for stem in stems:
        img_p, a_p = items[stem], root / "alphamatting" / "alphas" / items[stem].name
        out = alphamatting_fg_path(stem)
        paths.append(out)
        key = _file_key(img_p, a_p)
        if out.is_file():
            try:
                with np.load(out) as z:
                    if str(z["key"]) == key:
                        continue
            except Exception:  # noqa: BLE001 - corrupt cache entry: recompute
                pass
        todo.append((stem, img_p, a_p, out, key))
    if todo:
        from pymatting import estimate_foreground_ml
        it = todo
        if progress:
            from tqdm import tqdm
            it = tqdm(todo, desc="alphamatting foregrounds (pymatting, cached once)", unit="img")
        for stem, img_p, a_p, out, key in it:
            img = imread_rgb(img_p).astype(np.float64) / 255.0
            alpha = imread_gray(a_p).astype(np.float64) / 255.0
            fg, bg = estimate_foreground_ml(img, alpha, return_background=True)
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = out.with_suffix(".tmp.npz")
            np.savez_compressed(tmp, fg=_to_u8(fg), bg=_to_u8(bg), key=np.array(key))
            tmp.replace(out)
    return paths


def _to_u8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.asarray(x) * 255.0 + 0.5, 0, 255).astype(np.uint8)


def load_alphamatting(root: Path, stem: str) -> Layer:
    """An alphamatting image as a layer with estimated fg and bg (call ``ensure_alphamatting_foregrounds`` first)."""
    def make():
        items = list_items(root)["alphamatting"]
        alpha = imread_gray(root / "alphamatting" / "alphas" / items[stem].name)
        alpha = np.where(alpha <= ALPHA_NOISE, 0, alpha).astype(np.uint8)
        path = alphamatting_fg_path(stem)
        if not path.is_file():
            ensure_alphamatting_foregrounds(root, [stem], progress=False)
        with np.load(path) as z:
            fg, bg = z["fg"], z["bg"]
        return Layer(fg=fg, alpha=alpha, bg=bg, name=f"alphamatting/{stem}")
    return _cached(("alphamatting", str(root), stem), make)


OFFICIAL_TRIMAPS = ("Trimap1", "Trimap2")


def load_alphamatting_trimap(root: Path, stem: str, which: str) -> np.ndarray:
    """An alphamatting.com hand-drawn trimap (``Trimap1`` or ``Trimap2``) of a stem, uint8 0 / 128 / 255."""
    def make():
        name = list_items(root)["alphamatting"][stem].name
        path = root / "alphamatting" / "trimaps" / which / name
        if not path.is_file():
            raise FileNotFoundError(f"alphamatting trimap missing: {path}")
        return imread_gray(path)
    return _cached(("alphamatting_trimap", str(root), stem, which), make)


# ---------------------------------------------------------------------------------------------------- cutouts

def load_cutout(path: Path) -> Layer | None:
    """A cut-out RGBA PNG as a layer cropped to its object (None if the object is tiny)."""
    def make():
        rgba = imread_rgb(path, cv2.IMREAD_UNCHANGED)
        if rgba.ndim != 3 or rgba.shape[2] != 4:
            return None
        if rgba.dtype != np.uint8:
            rgba = (rgba / 257).astype(np.uint8)
        a = rgba[..., 3]
        ys, xs = np.nonzero(a > 0)
        if len(xs) == 0:
            return None
        m = 2
        y0, y1 = max(0, ys.min() - m), min(a.shape[0], ys.max() + 1 + m)
        x0, x1 = max(0, xs.min() - m), min(a.shape[1], xs.max() + 1 + m)
        if max(x1 - x0, y1 - y0) < CUTOUT_MIN_SIDE:
            return None
        rgba = rgba[y0:y1, x0:x1]
        # very large cut-outs: cap at 1024 px (plenty for crops of <= 512)
        s = 1024 / max(rgba.shape[:2])
        if s < 1:
            rgba = cv2.resize(rgba, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
        a = rgba[..., 3].copy()
        fg = bleed_colours(np.ascontiguousarray(rgba[..., :3]), a)
        return Layer(fg=fg, alpha=a, name=f"cutouts/{Path(path).stem}")
    return _cached(("cutout", str(path)), make)


# ------------------------------------------------------------------------------------------------ backgrounds

def load_background(path: Path) -> np.ndarray:
    def make():
        img = imread_rgb(path)
        s = BG_MAX_SIDE / max(img.shape[:2])
        if s < 1:
            img = cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
        return img
    return _cached(("bg", str(path)), make)


def label_mask(probability: np.ndarray, size) -> np.ndarray:
    """A teacher's 8-bit probability map resized (bilinear) to `size` (h, w), then >= one half: uint8 {0, 1}."""
    p = cv2.resize(probability, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
    return (p >= 128).astype(np.uint8)


def load_salient(image_path: Path, mask_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(background photo RGB uint8 at the background size cap, its IS-Net subject mask uint8 {0, 1})."""
    img = load_background(image_path)
    return img, label_mask(imread_gray(mask_path), img.shape[:2])


# ----------------------------------------------------------------------------------------- segmentation sets

def load_person_mask(root: Path, set_name: str, stem: str, completed: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(image RGB uint8, mask uint8 {0,1}) of a Penn-Fudan, HumanSeg290 or CCP item (all persons merged).

    With `completed`, a Penn-Fudan training mask is the one `mask_completion.py` cached (unannotated people
    added) when it exists."""
    if set_name == "ccp":
        return load_mask_photo(root, set_name, stem)

    def make():
        img = imread_rgb(list_items(root)[set_name][stem])
        if set_name == "pennfudan" and completed and completed_mask_path(stem).is_file():
            m = imread_gray(completed_mask_path(stem))
        elif set_name == "pennfudan":
            m = imread_gray(root / "pennfudan" / "masks" / f"{stem}_mask.png")
        else:
            m = imread_gray(root / "humanseg290" / "masks" / f"{stem}.png")
        m = (m > 0).astype(np.uint8)
        if m.shape != img.shape[:2]:
            m = cv2.resize(m, (img.shape[1], img.shape[0]), interpolation=cv2.INTER_NEAREST)
        return img, m
    return _cached(("person", str(root), set_name, stem, completed), make)


def load_mask_photo(root: Path, set_name: str, stem: str) -> tuple[np.ndarray, np.ndarray]:
    """(image RGB uint8, mask uint8 {0,1}) of a ``ccp`` or ``davis`` item (``<set>/masks/<stem>.png`` > 0)."""
    def make():
        img = imread_rgb(list_items(root)[set_name][stem])
        m = (imread_gray(root / set_name / "masks" / f"{stem}.png") > 127).astype(np.uint8)
        if m.shape != img.shape[:2]:
            m = cv2.resize(m, (img.shape[1], img.shape[0]), interpolation=cv2.INTER_NEAREST)
        return img, m
    return _cached(("mask_photo", str(root), set_name, stem), make)


def load_labelled_photo(image_path: Path, label_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(photo RGB uint8, mask uint8 {0,1}): the fused teacher label (``photo_labels.py``) resized to the photo
    with bilinear interpolation, then thresholded at one half."""
    def make():
        img = imread_rgb(image_path)
        return img, label_mask(imread_gray(label_path), img.shape[:2])
    return _cached(("labelled_photo", str(image_path)), make)


# ------------------------------------------------------------------------------------------ people pseudo-labels

def load_people_label(path: Path) -> Layer:
    def make():
        with np.load(path) as z:
            return Layer(fg=z["fg"], alpha=z["alpha"], bg=z["bg"], name=f"people/{Path(path).stem}")
    return _cached(("people", str(path)), make)


# --------------------------------------------------------------------------------------------------- pools

@dataclass
class Pools:
    """Everything one split samples from (names and paths; pixels load lazily)."""

    root: Path
    split: str
    alphamatting: list[str]
    cutouts: list[Path]
    backgrounds: list[tuple[str, Path]]
    people: list[Path]
    persons: dict[str, list[str]]  # segmentation sets -> stems
    salient: list[tuple[str, Path, Path]] = field(default_factory=list)  # (background, image, teacher mask)
    ccp: list[str] = field(default_factory=list)  # stems
    davis: dict[str, list[str]] = field(default_factory=dict)  # sequence -> frame stems
    photos: list[tuple[str, Path, Path]] = field(default_factory=list)  # (stem, photo, fused label)

    def backgrounds_without_people(self) -> list[tuple[str, Path]]:
        out = [b for b in self.backgrounds if b[0] not in BG_WITH_PEOPLE]
        return out or self.backgrounds

    def backgrounds_without_subjects(self) -> list[tuple[str, Path]]:
        """Backgrounds with neither people nor a subject the teacher found (`salient_labels.py`): under a
        pasted object, any other subject would be labelled background."""
        subjects = {name for name, _, _ in self.salient}
        out = [b for b in self.backgrounds_without_people() if b[0] not in subjects]
        return out or self.backgrounds_without_people()


def make_pools(split: str, data_root=None, with_people: bool = True, with_salient: bool = False) -> Pools:
    if split not in ("train", "val"):
        raise ValueError(f"split must be 'train' or 'val', got {split!r}")
    root = _data_root(data_root)
    splits = get_splits(root)
    items = list_items(root)
    optional_dir(root, "cutouts")
    optional_dir(root, "backgrounds/debian")
    cutouts = [items["cutouts"][s] for s in splits["cutouts"][split]]
    bgs = [(s, items["backgrounds"][s]) for s in splits["backgrounds"][split] if not BG_EXCLUDE.match(s)]
    if not bgs:
        raise ValueError(f"no {split} backgrounds under {root / 'backgrounds'}")
    people = []
    if with_people and split == "train":  # pseudo-labels are training data, never evaluation data
        people = [p for _, _, p in people_label_files(root)]
    salient = []
    if with_salient and split == "train":  # teacher masks exist for training photos only
        salient = salient_photos(root)
    ensure_alphamatting_foregrounds(root, splits["alphamatting"][split])
    davis: dict[str, list[str]] = {}
    for stem in splits["davis"][split]:
        davis.setdefault(davis_sequence(stem), []).append(stem)
    return Pools(root=root, split=split, alphamatting=list(splits["alphamatting"][split]), cutouts=cutouts,
                 backgrounds=bgs, people=people,
                 persons={s: list(splits[s][split]) for s in PEOPLE_SETS}, salient=salient,
                 ccp=list(splits["ccp"][split]), davis=davis, photos=kept_photos(root, splits["photos"][split]))

