"""Representative images for int8 post-training quantization.

The converter measures every activation's range on these images, so they should look like what users
send: the repo's sample photos, plus (when the training data is on this machine) composites from the
training pipeline. The training data is optional: without it the samples alone calibrate.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from alphanet_tf.imageio import ImageError, cover, list_images, read_image

SAMPLES_DIR = Path(__file__).resolve().parent.parent / "alphanet_tf" / "assets" / "samples"


def folder_images(folder, size: int) -> list[np.ndarray]:
    """Every readable image below `folder`, resized to cover size x size: uint8 (size, size, 3)."""
    images = []
    for path in list_images(Path(folder), recursive=True):
        try:
            images.append(cover(read_image(path)[0], (size, size)))
        except ImageError as e:
            print(f"calibration: skipping {e}", file=sys.stderr)
    return images


def training_images(size: int, count: int, seed: int = 0) -> list[np.ndarray]:
    """Up to `count` training composites at size x size, or [] when the data or its packages are missing."""
    if count <= 0:
        return []
    try:
        from training.data import matting_dataset

        dataset = matting_dataset("train", crop=size, batch_size=1, seed=seed, repeat=False, epoch_size=count)
        return [np.clip(np.rint(x["image"][0].numpy()), 0, 255).astype(np.uint8) for x, _ in dataset.take(count)]
    except Exception as e:  # no data on this machine, no training extras installed: samples only
        print(f"calibration: training data not used ({type(e).__name__}: {str(e)[:200]})", file=sys.stderr)
        return []


def pin_input_range(image: np.ndarray) -> np.ndarray:
    """Sets one pixel to 0 and one to 255, so the calibrated input range is exactly [0, 255]: the uint8
    input then has scale 1 and zero point 0, i.e. it takes the raw pixels."""
    image = image.copy()
    image[0, 0] = 0
    image[-1, -1] = 255
    return image


def calibration_images(size: int, folder=None, training_count: int = 64, seed: int = 0) -> list[np.ndarray]:
    """uint8 (size, size, 3) images: `folder` if given, else the samples plus training composites."""
    if folder is not None:
        images = folder_images(folder, size)
    else:
        images = folder_images(SAMPLES_DIR, size) + training_images(size, training_count, seed)
    if not images:
        raise ValueError(f"no calibration images found in {folder or SAMPLES_DIR}")
    images[0] = pin_input_range(images[0])
    return images


def representative(images):
    """The callable the converter wants: each image as float32 (1, H, W, 3) in [0, 255]."""
    return lambda: (img[None].astype(np.float32) for img in images)
