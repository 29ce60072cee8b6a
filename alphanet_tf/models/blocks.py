"""Convolution blocks shared by the models (conv/separable conv + BN + ReLU)."""

import keras


def conv_bn_relu(x, filters, kernel, name, dilation=1):
    x = keras.layers.Conv2D(filters, kernel, padding="same", dilation_rate=dilation, use_bias=False,
                            name=f"{name}_conv")(x)
    x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def separable_conv_bn_relu(x, filters, name, dilation=1):
    """Depthwise 3x3 (optionally atrous) + BN + ReLU, then pointwise + BN + ReLU (DeepLabV3+'s form)."""
    x = keras.layers.DepthwiseConv2D(3, padding="same", dilation_rate=dilation, use_bias=False,
                                     name=f"{name}_dw")(x)
    x = keras.layers.BatchNormalization(name=f"{name}_dw_bn")(x)
    x = keras.layers.ReLU(name=f"{name}_dw_relu")(x)
    return conv_bn_relu(x, filters, 1, f"{name}_pw")
