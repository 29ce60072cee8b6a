"""Convolution blocks shared by the models (conv/separable conv + BN + ReLU)."""

import keras

from alphanet_tf.layers.batch_norm import FusedBatchNormalization

# Moving statistics follow the weights within ~10 steps: with 0.99 they lagged so far behind during our
# short CPU runs that inference-mode validation was far worse than training (val IoU 0 vs 0.48 measured).
BN_MOMENTUM = 0.9


def conv_bn_relu(x, filters, kernel, name, dilation=1):
    x = keras.layers.Conv2D(filters, kernel, padding="same", dilation_rate=dilation, use_bias=False,
                            name=f"{name}_conv")(x)
    x = FusedBatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def separable_conv_bn_relu(x, filters, name, dilation=1):
    """Depthwise 3x3 (optionally atrous) + BN + ReLU, then pointwise + BN + ReLU (DeepLabV3+'s form)."""
    x = keras.layers.DepthwiseConv2D(3, padding="same", dilation_rate=dilation, use_bias=False,
                                     name=f"{name}_dw")(x)
    x = FusedBatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_dw_bn")(x)
    x = keras.layers.ReLU(name=f"{name}_dw_relu")(x)
    return conv_bn_relu(x, filters, 1, f"{name}_pw")
