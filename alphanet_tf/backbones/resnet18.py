"""ResNet18 feature extractor (the AlphaNet paper's segmentation backbone).

Keras ships no ResNet18 and no pre-trained ResNet18 weights exist offline here: it trains from scratch.
"""

import keras

from alphanet_tf.layers.batch_norm import FusedBatchNormalization


def _conv_bn(x, filters, kernel, stride, name, dilation=1, relu=True):
    x = keras.layers.Conv2D(filters, kernel, strides=stride, padding="same", dilation_rate=dilation,
                            use_bias=False, name=f"{name}_conv")(x)
    x = FusedBatchNormalization(epsilon=1e-5, momentum=0.9, name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x) if relu else x


def _basic_block(x, filters, stride, name, dilation=1):
    shortcut = x
    y = _conv_bn(x, filters, 3, stride, f"{name}_1", dilation)
    y = _conv_bn(y, filters, 3, 1, f"{name}_2", dilation, relu=False)
    if stride != 1 or x.shape[-1] != filters:
        shortcut = _conv_bn(x, filters, 1, stride, f"{name}_down", relu=False)
    y = keras.layers.Add(name=f"{name}_add")([shortcut, y])
    return keras.layers.ReLU(name=f"{name}_out")(y)


def resnet18_features(x):
    """Returns (low-level features at stride 4, 64 ch; high-level features at stride 16, 512 ch, dilated)."""
    x = _conv_bn(x, 64, 7, 2, "resnet_stem")
    x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="resnet_pool")(x)
    for i in range(2):
        x = _basic_block(x, 64, 1, f"resnet_l1_b{i}")
    low = x
    for stage, filters in ((2, 128), (3, 256)):
        for i in range(2):
            x = _basic_block(x, filters, 2 if i == 0 else 1, f"resnet_l{stage}_b{i}")
    for i in range(2):  # output stride 16: the last stage is dilated instead of strided
        x = _basic_block(x, 512, 1, f"resnet_l4_b{i}", dilation=2)
    return low, x
