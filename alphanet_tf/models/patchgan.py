"""PatchGAN discriminator (pix2pix, Isola et al. 2017) on (image, alpha) pairs, for HAttMatting's adversarial loss.

It scores every ~70 x 70 patch (with the default 3 layers) as real or generated, so it judges local
structure (edges, hair, texture of the matte) rather than the whole image. Used only during training: the
exported model is the generator alone.
"""

import keras

from alphanet_tf.layers.batch_norm import FusedBatchNormalization

NORMS = ("batch", "instance", "none")


def _norm(x, norm, name):
    if norm == "batch":
        return FusedBatchNormalization(name=f"{name}_bn")(x)
    if norm == "instance":
        return keras.layers.GroupNormalization(groups=-1, name=f"{name}_in")(x)
    return x


def PatchGANDiscriminator(filters=64, num_layers=3, norm="batch", name="patchgan_discriminator"):
    """pix2pix's N-layer discriminator: 4x4 convolutions, LeakyReLU 0.2, channels doubling to at most 8x.

    Args:
        filters: channels of the first convolution (pix2pix: 64).
        num_layers: stride-2 convolutions; the patch grid is (H / 2^num_layers, W / 2^num_layers).
        norm: "batch" (pix2pix), "instance" or "none"; never on the first layer.

    Returns:
        A functional model `[image (N, H, W, 3) RGB in [0, 255], alpha (N, H, W, 1) in [0, 1]]` ->
        patch logits (N, H / 2^num_layers, W / 2^num_layers, 1) (real > 0); H, W multiples of 2^num_layers.
    """
    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}: use one of {', '.join(NORMS)}")
    image = keras.Input((None, None, 3), name="image")
    alpha = keras.Input((None, None, 1), name="alpha")
    x = keras.layers.Concatenate(name="pair")([
        keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="image_scale")(image),
        keras.layers.Rescaling(2.0, offset=-1.0, name="alpha_scale")(alpha),
    ])
    x = keras.layers.Conv2D(filters, 4, strides=2, padding="same", name="conv_0")(x)
    x = keras.layers.LeakyReLU(0.2, name="conv_0_lrelu")(x)
    for i in range(1, num_layers + 1):
        stride = 2 if i < num_layers else 1  # pix2pix: the last hidden layer keeps the resolution
        x = keras.layers.Conv2D(filters * min(2 ** i, 8), 4, strides=stride, padding="same", use_bias=norm == "none",
                                name=f"conv_{i}")(x)
        x = _norm(x, norm, f"conv_{i}")
        x = keras.layers.LeakyReLU(0.2, name=f"conv_{i}_lrelu")(x)
    logits = keras.layers.Conv2D(1, 4, padding="same", name="patch_logits")(x)
    return keras.Model([image, alpha], logits, name=name)
