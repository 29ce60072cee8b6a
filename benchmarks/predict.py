"""Runs every method on every image it applies to and caches the maps; cached images are skipped, so a
method whose predictions are all on disk is not even loaded."""

from __future__ import annotations

import gc
import sys

from tqdm import tqdm

from alphanet_tf.evaluation import read_rgb
from alphanet_tf.imageio import read_trimap
from benchmarks.datasets import MATTING
from benchmarks.methods import AUTO, TRIMAP


def one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def applies(method, dataset, mode: str) -> bool:
    """auto: every set, for automatic methods; trimap: the matting set with trimaps, for trimap modes."""
    if mode not in method.modes or dataset.task not in method.tasks:
        return False
    return mode == AUTO or (dataset.task == MATTING and dataset.trimaps is not None)


def jobs_for(method, datasets, cache) -> list:
    """(dataset, mode, stem, image file, trimap file or None) of every prediction not yet cached."""
    jobs = []
    for ds in datasets:
        images, trimaps = ds.image_files(), ds.trimap_files()
        for mode in method.modes:
            if not applies(method, ds, mode):
                continue
            cache.open(ds.name, mode, method)
            jobs += [(ds, mode, stem, images[stem], trimaps.get(stem) if mode == TRIMAP else None)
                     for stem in ds.stems if not cache.has(ds.name, mode, method.slug, stem)]
    return jobs


def predict_one(method, mode, image_path, trimap_path):
    image = read_rgb(image_path)
    trimap = read_trimap(trimap_path, image.shape[:2]) if mode == TRIMAP else None
    outputs = method.outputs(image, trimap)
    if mode == TRIMAP:  # the other outputs would only repeat the given trimap
        outputs = {"alpha": outputs["alpha"]}
    for key, value in outputs.items():
        if value.shape != image.shape[:2]:
            raise ValueError(f"{method.slug} returned {key} of shape {value.shape} for an image of {image.shape[:2]}")
    return outputs


GIVE_UP_AFTER = 3  # a method failing on its first images fails the same way on the rest: stop it


def run_predictions(methods, datasets, cache, threads: int, progress: bool = True) -> dict:
    """Fills the cache; returns {method slug: {"dataset/mode/stem", "load" or "skipped": one-line error}}."""
    errors = {}
    for method in methods:
        jobs = jobs_for(method, datasets, cache)
        if not jobs:
            continue
        try:
            method.load(threads)
        except Exception as e:  # noqa: BLE001 - one broken method must not stop the others
            errors.setdefault(method.slug, {})["load"] = one_line(e)
            tqdm.write(f"benchmarks: {method.slug}: cannot load: {one_line(e)}", file=sys.stderr)
            continue
        done = failed = 0
        for ds, mode, stem, image_path, trimap_path in tqdm(jobs, desc=f"predict {method.slug}", unit="img",
                                                             disable=not progress):
            if failed >= GIVE_UP_AFTER and done == 0:
                errors[method.slug]["skipped"] = f"stopped after {failed} failures in a row"
                tqdm.write(f"benchmarks: {method.slug}: {errors[method.slug]['skipped']}", file=sys.stderr)
                break
            try:
                outputs = predict_one(method, mode, image_path, trimap_path)
                cache.write(ds.name, mode, method.slug, stem, outputs)
                done += 1
            except Exception as e:  # noqa: BLE001 - reported per image, the rest still runs
                failed += 1
                errors.setdefault(method.slug, {})[f"{ds.name}/{mode}/{stem}"] = one_line(e)
                tqdm.write(f"benchmarks: {method.slug} {ds.name}/{mode}/{stem}: {one_line(e)}", file=sys.stderr)
        method.close()
        gc.collect()
    return errors
