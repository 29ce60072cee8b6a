"""Backbones: MobileNetV2 (ImageNet weights from a local npz) and ResNet18 (trained from scratch)."""

from alphanet_tf.backbones.mobilenet_v2 import (
    BLOCKS,
    MobileNetV2Classifier,
    default_imagenet_weights_path,
    inverted_residual,
    freeze_backbone_batchnorm,
    load_imagenet_weights,
    mobilenet_v2_stem,
)
from alphanet_tf.backbones.resnet18 import resnet18_features

__all__ = [
    "BLOCKS",
    "MobileNetV2Classifier",
    "default_imagenet_weights_path",
    "inverted_residual",
    "freeze_backbone_batchnorm",
    "load_imagenet_weights",
    "mobilenet_v2_stem",
    "resnet18_features",
]
