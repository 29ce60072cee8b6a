"""Functional Keras models: segmentation (DeepLabV3+), matting, and the whole AlphaNet."""

from alphanet_tf.models.alphanet import AlphaNet, AlphaNetGivenTrimap
from alphanet_tf.models.matting import MattingNet
from alphanet_tf.models.segmentation import SegmentationNet

__all__ = ["AlphaNet", "AlphaNetGivenTrimap", "MattingNet", "SegmentationNet"]
