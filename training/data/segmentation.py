"""Segmentation samples: person masks and binarised composites.

Sources (``SegmentationSampler.mix``):

* ``pennfudan``: Penn-Fudan street scenes, every annotated person merged (mask > 0).
* ``humanseg``: HumanSeg290 people photos; masks smaller than their image are resized (nearest) to it.
* ``composite``: a matting composite (cut-out / alphamatting / procedural object over a background photo
  without people) with mask = alpha > 0.5; ``cutout``, ``alphamatting`` and ``procedural`` give one kind
  only (e.g. real objects without the procedural strands, which are not objects anyone would cut out).
* ``alphamatting_photo``: an alphamatting.com training photo as it was taken (a toy, plant or object in
  front of a screen), mask = its ground-truth alpha > 0.5; the composite kind ``alphamatting`` pastes the
  same foregrounds on other backgrounds instead.
* ``salient``: a training background photo with the subject IS-Net found in it (``salient_labels.py``):
  real photos of animals, plants, buildings and things, no seams; those photos are then not used as
  composite backgrounds.
* ``ccp``: Clothing Co-Parsing street-fashion people with pixel masks (the e-commerce domain).
* ``davis``: DAVIS-2016 frames with the moving subject's mask (animals, riders, cars); a sequence is drawn
  uniformly, then a frame of it (frames of one sequence are near-duplicates).
* ``photos``: unlabelled photos (people, ImageNet classes, garments, produce) with the fused teacher label of
  ``photo_labels.py``; only the photos its rule kept.
* ``people``: a training person (HumanSeg290 / Penn-Fudan, RVM pseudo-alpha of ``pseudo_labels.py``) cut out
  of its photo and pasted on a background photo without people (copy-paste augmentation: the same people in
  new surroundings, so the net must find them by their shape, not their usual scenes); training split only.

DUTS (salient objects, used by some matting papers to pre-train segmentation) is not available on this
machine; composites of cut-outs and the teacher-labelled background photos stand in for generic objects.

Augmentation: random scale / crop (biased towards crops that contain a person), horizontal flip, colour
jitter, and the shared blur / noise / JPEG degradations.
"""

from __future__ import annotations

import cv2
import numpy as np

from . import composite as C
from .matting import MattingSampler
from .paths import DataNotFoundError
from .sources import (Pools, imread_rgb, list_items, load_alphamatting, load_labelled_photo, load_mask_photo,
                      load_people_label, load_person_mask, load_salient)

cv2.setNumThreads(1)

DEFAULT_MIX = {"pennfudan": 0.3, "humanseg": 0.4, "composite": 0.3}
PHOTO_KINDS = ("pennfudan", "humanseg", "salient", "alphamatting_photo", "ccp", "davis", "photos")
# Where each real-photo set lives under the data root (a mix that asks for it needs the folder).
PHOTO_FOLDERS = {"ccp": "ccp/masks", "davis": "davis/masks", "photos": "photos"}
COMPOSITE_KINDS = ("composite", "cutout", "alphamatting", "procedural", "people")


class SegmentationSampler:
    """Callable ``sampler(rng) -> (image float32 (S, S, 3) in [0, 255], mask float32 (S, S, 1) in {0, 1})``."""

    def __init__(self, pools: Pools, size: int = 320, degrade: bool = True, mix: dict | None = None,
                 whole_prob: float = 0.0):
        self.pools, self.size, self.degrade = pools, int(size), bool(degrade)
        self.whole_prob = float(whole_prob)
        mix = dict(DEFAULT_MIX if mix is None else mix)
        unknown = sorted(set(mix) - {*PHOTO_KINDS, *COMPOSITE_KINDS})
        if unknown:
            raise ValueError(f"unknown segmentation sources {unknown}: use "
                             f"{', '.join(PHOTO_KINDS + COMPOSITE_KINDS)}")
        asked = sorted(k for k, v in mix.items() if v > 0)
        if not pools.persons.get("pennfudan"):
            mix["pennfudan"] = 0.0
        if not pools.persons.get("humanseg290"):
            mix["humanseg"] = 0.0
        if not pools.cutouts:  # `fetch.sh data` not run: as MattingSampler, go on without them
            mix["cutout"] = 0.0
        if not pools.alphamatting:
            mix["alphamatting"] = mix["alphamatting_photo"] = 0.0
        if not pools.people:  # no pseudo-labels (validation split, or `pseudo_labels` not run)
            mix["people"] = 0.0
        if not pools.salient:  # no teacher masks (validation split, or `salient_labels` not run)
            mix["salient"] = 0.0
        for kind, rel in PHOTO_FOLDERS.items():
            if mix.get(kind, 0) > 0 and not (pools.root / rel).is_dir():
                raise DataNotFoundError(f"segmentation source {kind!r}: data folder not found: {pools.root / rel}")
        if not pools.ccp:
            mix["ccp"] = 0.0
        if not pools.davis:
            mix["davis"] = 0.0
        if not pools.photos:  # `python -m training.data.photo_labels` not run
            mix["photos"] = 0.0
        if not any(v > 0 for v in mix.values()):
            raise ValueError(f"no segmentation source of the mix {asked} has data in {pools.root}")
        self.names = [k for k, v in mix.items() if v > 0]
        p = np.array([mix[k] for k in self.names], np.float64)
        self.p = p / p.sum()
        self._composites = MattingSampler(pools, crop=size, degrade=False, people_weight=0.0)

    def _person(self, rng, set_name: str):
        stems = self.pools.persons[set_name]
        img, mask = load_person_mask(self.pools.root, set_name, stems[rng.integers(len(stems))])
        return self._photo(rng, img, mask, set_name)

    def _salient(self, rng):
        _, image_path, mask_path = self.pools.salient[rng.integers(len(self.pools.salient))]
        img, mask = load_salient(image_path, mask_path)
        return self._photo(rng, img, mask, "salient")

    def _ccp(self, rng):
        stem = self.pools.ccp[rng.integers(len(self.pools.ccp))]
        return self._photo(rng, *load_mask_photo(self.pools.root, "ccp", stem), "ccp")

    def _davis(self, rng):
        """A frame of a sequence drawn uniformly: sequences weigh the same, whatever their length."""
        sequences = sorted(self.pools.davis)
        frames = self.pools.davis[sequences[rng.integers(len(sequences))]]
        return self._photo(rng, *load_mask_photo(self.pools.root, "davis", frames[rng.integers(len(frames))]),
                           "davis")

    def _photos(self, rng):
        _, image_path, label_path = self.pools.photos[rng.integers(len(self.pools.photos))]
        return self._photo(rng, *load_labelled_photo(image_path, label_path), "photos")

    def _alphamatting_photo(self, rng):
        stem = self.pools.alphamatting[rng.integers(len(self.pools.alphamatting))]
        img = imread_rgb(list_items(self.pools.root)["alphamatting"][stem])
        mask = (load_alphamatting(self.pools.root, stem).alpha > 127).astype(np.uint8)
        return self._photo(rng, img, mask, "alphamatting_photo")

    def _photo(self, rng, img, mask, set_name: str):
        """A real photo and its mask: whole (squashed) or a square crop, resized, colour-jittered."""
        h, w = mask.shape
        size = self.size
        if rng.random() < self.whole_prob:  # the whole photo squashed to a square, as AlphaNet's seg_resize does
            crop_i, crop_m, side = img, mask, max(h, w)
        else:
            crop_i, crop_m, side = self._square_crop(rng, img, mask, set_name)
        interp = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
        image = cv2.resize(crop_i, (size, size), interpolation=interp).astype(np.float32) / 255.0
        m = cv2.resize(crop_m, (size, size), interpolation=cv2.INTER_NEAREST).astype(np.float32)
        if rng.random() < 0.8:
            image = C.colour_jitter(rng, image, 1.0)
        return image, m

    @staticmethod
    def _square_crop(rng, img, mask, set_name: str):
        """A square crop from a tight one to the whole short side, centred near a person pixel mostly."""
        h, w = mask.shape
        short = min(h, w)
        # crop side in source pixels: from a tight crop to the whole short side
        side = int(round(short * rng.uniform(0.45 if set_name == "pennfudan" else 0.6, 1.0)))
        side = max(min(side, short), 8)
        ys, xs = np.nonzero(mask)
        if len(xs) and rng.random() < 0.85:  # centre near a person pixel
            i = rng.integers(len(xs))
            cx = xs[i] + rng.uniform(-0.3, 0.3) * side
            cy = ys[i] + rng.uniform(-0.3, 0.3) * side
        else:
            cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        x0 = int(np.clip(round(cx - side / 2), 0, w - side))
        y0 = int(np.clip(round(cy - side / 2), 0, h - side))
        return img[y0:y0 + side, x0:x0 + side], mask[y0:y0 + side, x0:x0 + side], side

    def _composite(self, rng, kind: str = "composite"):
        cs = self._composites
        if kind == "composite":
            kinds = [k for k in cs.names if k != "real"]
            kind = kinds[rng.integers(len(kinds))]
        mode = "whole" if rng.random() < 0.6 else "edge"
        if kind == "people":
            layer = load_people_label(self.pools.people[rng.integers(len(self.pools.people))])
            scale_range = (0.5, 1.0) if mode == "whole" else (0.6, 2.0)
            M = C.place_layer(rng, layer, self.size, mode, scale_range=scale_range, max_scale=1.5, rotate=5)
            fg, a, _ = C.warp_layer(layer, M, self.size)
        else:
            fg, a, _ = cs._object(rng, kind, self.size, mode)
        bg = cs._background(rng, self.size, self.pools.backgrounds_without_subjects())
        fg = C.colour_jitter(rng, fg, 0.7)
        bg = C.colour_jitter(rng, bg, 1.0)
        if rng.random() < 0.5:
            fg = C.harmonise(rng, fg, a, bg)
        a = C.snap_alpha(a)
        return C.composite(fg, a, bg), (a > 0.5).astype(np.float32)

    def __call__(self, rng: np.random.Generator):
        kind = self.names[rng.choice(len(self.names), p=self.p)]
        if kind in COMPOSITE_KINDS:
            image, mask = self._composite(rng, kind)
        elif kind == "salient":
            image, mask = self._salient(rng)
        elif kind == "alphamatting_photo":
            image, mask = self._alphamatting_photo(rng)
        elif kind in ("ccp", "davis", "photos"):
            image, mask = getattr(self, f"_{kind}")(rng)
        else:
            image, mask = self._person(rng, "pennfudan" if kind == "pennfudan" else "humanseg290")
        if rng.random() < 0.5:
            image, mask = image[:, ::-1], mask[:, ::-1]
        if self.degrade:
            image = C.degrade(rng, np.ascontiguousarray(image))
        return (np.ascontiguousarray(np.clip(image, 0, 1) * 255.0, np.float32),
                np.ascontiguousarray(mask[..., None], np.float32))
