"""SegmentationNet: DeepLabV3+ (ASPP + decoder) with a MobileNetV2 (default) or ResNet18 backbone.

Paper III.A. ASPP runs at output stride 16 (rates 6/12/18 plus image pooling) with separable convolutions
(cheap on CPU), the decoder fuses stride-4 low-level features, and the output is a foreground probability.
"""

import keras

from alphanet_tf.backbones import inverted_residual, load_imagenet_weights, mobilenet_v2_stem, resnet18_features
from alphanet_tf.layers import ImageNormalization, ResizeLike
from alphanet_tf.models.blocks import conv_bn_relu, separable_conv_bn_relu


def _mobilenet_v2_features(x):
    x = mobilenet_v2_stem(x)
    low = None
    for block_id in range(17):
        if block_id >= 13:  # output stride 16: stride 1 and dilation 2 from block 13 on
            x = inverted_residual(x, block_id, stride=1, dilation=2)
        else:
            x = inverted_residual(x, block_id)
        if block_id == 2:
            low = x  # stride 4, 24 channels
    return low, x


def SegmentationNet(backbone="mobilenet_v2", aspp_filters=128, aspp_rates=(6, 12, 18), low_level_filters=32,
                    decoder_filters=128, weights="imagenet", name="segmentation_net"):
    """DeepLabV3+ for a one-class foreground mask.

    Args:
        backbone: "mobilenet_v2" (ImageNet weights) or "resnet18" (from scratch).
        weights: "imagenet", a path to the MobileNetV2 npz, or None (random init).

    Returns:
        A functional model: image float32 (N, H, W, 3) RGB in [0, 255], H and W multiples of 16
        -> probability (N, H, W, 1).
    """
    image = keras.Input((None, None, 3), name="image")
    x = ImageNormalization(name="normalize")(image)
    if backbone == "mobilenet_v2":
        low, high = _mobilenet_v2_features(x)
    elif backbone == "resnet18":
        low, high = resnet18_features(x)
    else:
        raise ValueError(f"unknown backbone {backbone!r}: use 'mobilenet_v2' or 'resnet18'")

    branches = [conv_bn_relu(high, aspp_filters, 1, "aspp_1x1")]
    for rate in aspp_rates:
        branches.append(separable_conv_bn_relu(high, aspp_filters, f"aspp_r{rate}", dilation=rate))
    pooled = keras.layers.GlobalAveragePooling2D(keepdims=True, name="aspp_pool")(high)
    pooled = keras.layers.Conv2D(aspp_filters, 1, activation="relu", name="aspp_pool_conv")(pooled)
    branches.append(ResizeLike(name="aspp_pool_up")([pooled, high]))
    x = keras.layers.Concatenate(name="aspp_concat")(branches)
    x = conv_bn_relu(x, aspp_filters, 1, "aspp_out")

    low = conv_bn_relu(low, low_level_filters, 1, "decoder_low")
    x = ResizeLike(name="decoder_up")([x, low])
    x = keras.layers.Concatenate(name="decoder_concat")([x, low])
    x = separable_conv_bn_relu(x, decoder_filters, "decoder_1")
    x = separable_conv_bn_relu(x, decoder_filters, "decoder_2")
    x = keras.layers.Conv2D(1, 1, name="logits")(x)
    x = ResizeLike(name="logits_up")([x, image])
    probability = keras.layers.Activation("sigmoid", name="probability")(x)
    model = keras.Model(image, probability, name=name)
    if weights and backbone == "mobilenet_v2":
        load_imagenet_weights(model, None if weights == "imagenet" else weights)
    return model
