"""Training data for the matting and segmentation stages (``tf.data`` pipelines over numpy/cv2 samplers).

Interface (what the trainer calls)::

    matting_dataset(split="train" | "val", crop=320, batch_size=8, seed=0, data_root=None, repeat=None,
                    people_weight=0.25, *, val_size=64, epoch_size=1024, degrade=True,
                    num_parallel_calls=2, mix=None, distractor_prob=0.2) -> tf.data.Dataset
        yields ({"image": (B, crop, crop, 3) float32 RGB in [0, 255],
                 "trimap": (B, crop, crop, 1) float32 in {0, 0.5, 1}},
                target (B, crop, crop, 7) float32 = [alpha (1), foreground RGB (3), background RGB (3)] in [0, 1])
        with image / 255 == alpha * fg + (1 - alpha) * bg up to the post-composite degradations
        (blur / noise / JPEG; ``degrade=False`` turns them off and the identity is exact).

    segmentation_dataset(split="train" | "val", size=320, batch_size=8, seed=0, data_root=None, repeat=None,
                         *, val_size=64, epoch_size=1024, degrade=True, num_parallel_calls=2, mix=None)
        yields (image (B, size, size, 3) float32 in [0, 255], mask (B, size, size, 1) float32 in {0, 1})

``repeat=None`` means ``True`` for ``"train"`` (an endless stream, every sample new) and ``False`` for
``"val"`` (``val_size`` fixed, deterministic samples: the same every epoch for the same seed). Training with
``repeat=False`` yields ``epoch_size`` samples. Training batches drop the remainder; validation keeps it.
``people_weight``: fraction of matting samples taken from the RVM people pseudo-labels when their cache
exists (``python -m training.data.pseudo_labels``), ignored otherwise and for validation. Penn-Fudan
training masks include the unannotated people once ``python -m training.data.mask_completion`` has run.

Data root: ``data_root`` argument, ``$ALPHANET_DATA``, or ``<repo>/../shared/data``; cache (alphamatting
foreground colours, pseudo-labels): ``$ALPHANET_CACHE`` or ``<repo>/.cache``. Cut-outs and the debian
backgrounds (``../shared/fetch.sh data``) are used when present and skipped with a warning otherwise.

Preview and throughput: ``python -m training.data --preview OUT.png``.
"""

from __future__ import annotations

from .paths import DataNotFoundError, cache_dir, data_root
from .splits import get_splits

__all__ = ["matting_dataset", "segmentation_dataset", "get_splits", "data_root", "cache_dir",
           "DataNotFoundError"]


def matting_dataset(split="train", crop=320, batch_size=8, seed=0, data_root=None, repeat=None,
                    people_weight=0.25, **kwargs):
    """Matting (image, trimap) -> [alpha, fg, bg] batches; see the module docstring."""
    from .dataset import matting_dataset as _impl  # lazy: TensorFlow only when a dataset is built
    return _impl(split=split, crop=crop, batch_size=batch_size, seed=seed, data_root=data_root, repeat=repeat,
                 people_weight=people_weight, **kwargs)


def segmentation_dataset(split="train", size=320, batch_size=8, seed=0, data_root=None, repeat=None,
                         **kwargs):
    """Segmentation (image, mask) batches; see the module docstring."""
    from .dataset import segmentation_dataset as _impl
    return _impl(split=split, size=size, batch_size=batch_size, seed=seed, data_root=data_root, repeat=repeat,
                 **kwargs)
