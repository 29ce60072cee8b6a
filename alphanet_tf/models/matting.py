"""MattingNet: AlphaNet's matting stage (paper III.B), a MobileNetV2 encoder-decoder on RGB + trimap.

Every stride-2 step of MobileNetV2 becomes attention pooling of the step's input followed by the block at
stride 1 (pooling first keeps the block at the lower resolution, so this costs what MobileNetV2 costs).
The decoder climbs back with attention unpooling, driven by the decoder map the attention module computed
from the matching encoder feature (IndexNet style), and fuses that encoder feature as a skip.
`attention=False` builds the ablation: max-pooling and nearest unpooling, same interface.
`refine_filters` adds a small full-resolution refinement head (Deep Image Matting's second stage): 3x3
convolutions on the normalised RGB, the trimap, the coarse alpha and the last decoder features, whose output
is added to the coarse alpha's logit. The decoder's own full-resolution level is one separable convolution
of 16 channels, too little for strands one or two pixels wide. Its last convolution starts at zero, so a
trained net without the head continues exactly where it was.
"""

import keras

from alphanet_tf.backbones import inverted_residual, load_imagenet_weights, mobilenet_v2_stem
from alphanet_tf.layers import (AttentionModule, AttentionPooling, AttentionUnpooling, GuidedFilter, ImageNormalization,
                                TrimapFusion)
from alphanet_tf.models.blocks import conv_bn_relu, separable_conv_bn_relu

# MobileNetV2 blocks run between two poolings; level k starts at stride 2^k.
_LEVEL_BLOCKS = ((), (1, 2), (3, 4, 5), (6, 7, 8, 9, 10, 11, 12), (13, 14, 15, 16))


def MattingNet(attention=True, decoder_filters=(16, 16, 24, 32, 64), bottleneck_filters=96,
               hidden_multiplier=2, refine_filters=(), weights="imagenet", name="matting_net"):
    """Builds the matting network.

    Args:
        attention: attention pooling/unpooling (True) or the plain max-pool/nearest ablation (False).
        decoder_filters: output channels of the decoder stage at stride 1, 2, 4, 8, 16.
        hidden_multiplier: width of the attention module branches as a multiple of their input channels.
        refine_filters: channels of the refinement head's 3x3 convolutions (empty: no head).
        weights: "imagenet", a path to the MobileNetV2 npz, or None.

    Returns:
        A functional model: `[image (N, H, W, 3) RGB in [0, 255], trimap (N, H, W, 1) in {0, 0.5, 1}]`
        -> raw alpha (N, H, W, 1) in [0, 1]; H and W multiples of 32.
    """
    image = keras.Input((None, None, 3), name="image")
    trimap = keras.Input((None, None, 1), name="trimap")
    x = rgbt = keras.layers.Concatenate(name="rgbt")([ImageNormalization(name="normalize")(image), trimap])

    skips, decoder_maps = [], []
    for level, blocks in enumerate(_LEVEL_BLOCKS):
        skips.append(x)
        if attention:
            encoder_map, decoder_map = AttentionModule(hidden_multiplier, name=f"attention_{level}")(x)
            x = AttentionPooling(name=f"attention_pool_{level}")([x, encoder_map])
        else:
            decoder_map = x  # only its spatial size is used by the plain unpooling
            x = keras.layers.MaxPooling2D(2, name=f"max_pool_{level}")(x)
        decoder_maps.append(decoder_map)
        if level == 0:
            x = mobilenet_v2_stem(x, stride=1)
            x = inverted_residual(x, 0)
        for block_id in blocks:
            x = inverted_residual(x, block_id, stride=1)

    x = conv_bn_relu(x, bottleneck_filters, 1, "bottleneck")
    for level in reversed(range(len(_LEVEL_BLOCKS))):
        x = AttentionUnpooling(use_attention=attention, name=f"unpool_{level}")([x, decoder_maps[level]])
        x = keras.layers.Concatenate(name=f"skip_{level}")([x, skips[level]])
        x = separable_conv_bn_relu(x, decoder_filters[level], f"decoder_{level}")
    logit = keras.layers.Conv2D(1, 3, padding="same", name="alpha_conv")(x)
    if refine_filters:
        coarse = keras.layers.Activation("sigmoid", name="coarse_alpha")(logit)
        r = keras.layers.Concatenate(name="refine_input")([rgbt, coarse, x])
        for i, filters in enumerate(refine_filters):
            r = conv_bn_relu(r, filters, 3, f"refine_{i}")
        delta = keras.layers.Conv2D(1, 3, padding="same", kernel_initializer="zeros", name="refine_delta")(r)
        logit = keras.layers.Add(name="refined_logit")([logit, delta])
    raw_alpha = keras.layers.Activation("sigmoid", name="raw_alpha")(logit)
    model = keras.Model([image, trimap], raw_alpha, name=name)
    if weights:
        load_imagenet_weights(model, None if weights == "imagenet" else weights)
    return model


def GivenTrimapMattingNet(matting_net, guided_radius=4, guided_epsilon=1e-5, name="trimap_matting_net"):
    """The net the shipped model mattes with when a trimap is given: `matting_net`'s alpha with the trimap's
    known pixels, refined by a colour guided filter (`GuidedFilter`; `guided_radius=0`: none), in [0, 1].

    Same interface as MattingNet: `[image, trimap] -> alpha (N, H, W, 1)`.
    """
    image = keras.Input((None, None, 3), name="image")
    trimap = keras.Input((None, None, 1), name="trimap")
    alpha = TrimapFusion(name="fused_alpha")([matting_net([image, trimap]), trimap])
    if guided_radius:
        alpha = GuidedFilter(guided_radius, guided_epsilon, name="guided_filter")([image, alpha])
        alpha = keras.layers.ReLU(max_value=1.0, name="clip")(alpha)
    return keras.Model([image, trimap], alpha, name=name)
