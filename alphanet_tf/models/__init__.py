"""Functional Keras models: segmentation (DeepLabV3+), matting, the whole AlphaNet, and HAttMatting."""

from alphanet_tf.models.alphanet import AlphaNet, AlphaNetGivenTrimap
from alphanet_tf.models.hattmatting import HAttMattingNet
from alphanet_tf.models.matting import GivenTrimapMattingNet, MattingNet
from alphanet_tf.models.segmentation import SegmentationNet

__all__ = [
    "AlphaNet", "AlphaNetGivenTrimap", "GivenTrimapMattingNet", "HAttMattingNet", "MattingNet", "SegmentationNet",
]
