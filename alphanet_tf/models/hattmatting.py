"""HAttMattingNet: trimap-free matting by hierarchical attention (Qiao et al., CVPR 2020), see DESIGN.md 1.

RGB -> MobileNetV2 (ImageNet weights; output stride 16, the last stage dilated) ->
- high-level features -> ASPP -> upsampled to stride 4 -> channel attention ("pyramidal features
  distillation") = the semantics;
- stride-4 low-level features ("appearance cues") -> spatial attention computed from the semantics
  ("appearance cues filtration"), which suppresses background texture;
-> concatenate, two separable convolutions, 1 x 1 logits -> bilinear to full resolution -> sigmoid alpha.

The paper's backbone is ResNeXt; no pre-trained ResNeXt exists here, so MobileNetV2 shares AlphaNet's
ImageNet weights (and its speed on CPU and phones). The output dict matches AlphaNet's, with the trimap and
segmentation derived from the alpha, so the CLI, evaluator and exporter treat both models alike.
"""

import keras

from alphanet_tf.backbones import inverted_residual, load_imagenet_weights, mobilenet_v2_stem
from alphanet_tf.layers.hierarchical_attention import AlphaTrimap, ChannelAttention, SpatialAttention
from alphanet_tf.layers.image_ops import ImageNormalization, ResizeLike
from alphanet_tf.models.blocks import conv_bn_relu, separable_conv_bn_relu

LOW_LEVEL_BLOCK = 2  # MobileNetV2 block whose output (stride 4, 24 channels) gives the appearance cues
DILATED_FROM_BLOCK = 13  # blocks 13..16 run at stride 1, dilation 2: output stride 16


def _backbone(x):
    x = mobilenet_v2_stem(x)
    low = None
    for block_id in range(17):
        if block_id >= DILATED_FROM_BLOCK:
            x = inverted_residual(x, block_id, stride=1, dilation=2)
        else:
            x = inverted_residual(x, block_id)
        if block_id == LOW_LEVEL_BLOCK:
            low = x
    return low, x


def _aspp(high, filters, rates):
    """DeepLabV3+'s ASPP: 1x1, atrous separable convs at `rates`, and image pooling, fused by a 1x1 conv."""
    branches = [conv_bn_relu(high, filters, 1, "aspp_1x1")]
    for rate in rates:
        branches.append(separable_conv_bn_relu(high, filters, f"aspp_r{rate}", dilation=rate))
    pooled = keras.layers.GlobalAveragePooling2D(keepdims=True, name="aspp_pool")(high)
    pooled = keras.layers.Conv2D(filters, 1, activation="relu", name="aspp_pool_conv")(pooled)
    branches.append(ResizeLike(name="aspp_pool_up")([pooled, high]))
    x = keras.layers.Concatenate(name="aspp_concat")(branches)
    return conv_bn_relu(x, filters, 1, "aspp_out")


def HAttMattingNet(channel_attention=True, spatial_attention=True, aspp_filters=128, aspp_rates=(6, 12, 18),
                   reduction=8, low_level_filters=48, spatial_filters=32, spatial_kernel=7, decoder_filters=64,
                   trimap_thresholds=(0.05, 0.95), weights="imagenet", name="hattmatting_net"):
    """Builds the trimap-free HAttMatting network.

    Args:
        channel_attention, spatial_attention: False builds the paper's "without CA" / "without SA" ablations
            (the layer stays in the graph as a weightless pass-through, same names and interface).
        aspp_filters, aspp_rates: ASPP width and atrous rates (at output stride 16).
        reduction: channel attention MLP bottleneck.
        low_level_filters: channels the stride-4 appearance cues are projected to.
        spatial_filters, spatial_kernel: hidden channels and k of the spatial attention's 1-D convolutions.
        decoder_filters: width of the two fusion convolutions.
        trimap_thresholds: (low, high) alpha thresholds of the derived trimap.
        weights: "imagenet", a path to the MobileNetV2 npz, or None (random init).

    Returns:
        A functional model: image float32 (N, H, W, 3) RGB in [0, 255], H and W multiples of 32 ->
        {"alpha", "trimap", "segmentation"}, each (N, H, W, 1); segmentation is the alpha itself.
    """
    image = keras.Input((None, None, 3), name="image")
    low, high = _backbone(ImageNormalization(name="normalize")(image))

    semantics = _aspp(high, aspp_filters, aspp_rates)
    semantics = ResizeLike(name="semantics_up")([semantics, low])
    semantics = ChannelAttention(reduction=reduction, use_attention=channel_attention,
                                 name="channel_attention")(semantics)

    cues = conv_bn_relu(low, low_level_filters, 1, "cues")
    cues = SpatialAttention(filters=spatial_filters, kernel_size=spatial_kernel, use_attention=spatial_attention,
                            name="spatial_attention")([cues, semantics])

    x = keras.layers.Concatenate(name="fusion_concat")([semantics, cues])
    x = separable_conv_bn_relu(x, decoder_filters, "fusion_1")
    x = separable_conv_bn_relu(x, decoder_filters, "fusion_2")
    x = keras.layers.Conv2D(1, 1, name="alpha_logits")(x)
    x = ResizeLike(name="alpha_up")([x, image])
    alpha = keras.layers.Activation("sigmoid", name="alpha")(x)
    trimap = AlphaTrimap(*trimap_thresholds, name="trimap")(alpha)
    segmentation = keras.layers.Identity(name="segmentation")(alpha)
    model = keras.Model(image, {"alpha": alpha, "trimap": trimap, "segmentation": segmentation}, name=name)
    if weights:
        load_imagenet_weights(model, None if weights == "imagenet" else weights)
    return model
