"""alphanet_tf: automatic image matting (AlphaNet, HAttMatting) in Keras 3 / TensorFlow.

Importing the package is cheap; TensorFlow loads on first use of a model-related name.
"""

__version__ = "0.1.0"

_LAZY = {
    "predict": ("alphanet_tf.inference", "predict"),
    "Matter": ("alphanet_tf.inference", "Matter"),
    "AlphaNet": ("alphanet_tf.models.alphanet", "AlphaNet"),
    "MattingNet": ("alphanet_tf.models.matting", "MattingNet"),
    "SegmentationNet": ("alphanet_tf.models.segmentation", "SegmentationNet"),
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'alphanet_tf' has no attribute {name!r}")


__all__ = ["__version__", *_LAZY]
