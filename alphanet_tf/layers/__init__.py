"""Registered, serializable Keras layers: one concept per file."""

from alphanet_tf.layers.attention import AttentionModule, AttentionPooling, AttentionUnpooling
from alphanet_tf.layers.batch_norm import FusedBatchNormalization
from alphanet_tf.layers.guided_filter import GuidedFilter
from alphanet_tf.layers.image_ops import ImageNormalization, ResizeLike, ResizeTo
from alphanet_tf.layers.trimap import ErosionDilationTrimap, QuantizeTrimap, TrimapFusion

__all__ = [
    "AttentionModule",
    "AttentionPooling",
    "AttentionUnpooling",
    "ErosionDilationTrimap",
    "FusedBatchNormalization",
    "GuidedFilter",
    "ImageNormalization",
    "ResizeLike",
    "QuantizeTrimap",
    "ResizeTo",
    "TrimapFusion",
]
