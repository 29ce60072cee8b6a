"""AlphaNet's attention module and the attention-guided pooling / unpooling it drives (paper III.B).

The module is written in a fused form: the four parallel 4x4 stride-2 convolutions with 2 groups become two
plain convolutions (one per input-channel group) with four times the outputs, and the eight per-branch
1x1 heads become one 1x1 convolution with a block-diagonal kernel. `Conv2D(groups=2)` is 12-20x slower to
train on CPU in TensorFlow; `tests/test_attention.py` proves the fused form equals the literal one.
Every op here (conv, group norm, sigmoid, softmax, depth_to_space, average pool) is a TFLite builtin.
"""

import keras
import numpy as np
import tensorflow as tf

BRANCHES = 4  # one per position of a 2x2 window; pixel shuffle puts branch b at (b // 2, b % 2)


@keras.saving.register_keras_serializable(package="alphanet")
class AttentionModule(keras.layers.Layer):
    """Learns, from an encoder feature F (H x W x C), two full-resolution attention maps (H x W x 1).

    Returns `[encoder_map, decoder_map]`: the encoder map is a sigmoid followed by a softmax over each 2x2
    window (so attention pooling is a weighted average times 4, keeping magnitudes), the decoder map a sigmoid.

    Args:
        hidden_multiplier: outputs of each 4x4 branch convolution, as a multiple of C (paper: 2).
        conv_groups: groups of each branch convolution (paper: 2).
        norm_groups: GroupNorm groups per branch; a multiple of `conv_groups`.

    Example:
        >>> enc, dec = AttentionModule()(keras.ops.ones((1, 8, 8, 16)))
        >>> tuple(enc.shape), tuple(dec.shape)
        ((1, 8, 8, 1), (1, 8, 8, 1))
    """

    def __init__(self, hidden_multiplier=2, conv_groups=2, norm_groups=2, epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        if norm_groups % conv_groups:
            raise ValueError(f"norm_groups ({norm_groups}) must be a multiple of conv_groups ({conv_groups})")
        self.hidden_multiplier = int(hidden_multiplier)
        self.conv_groups = int(conv_groups)
        self.norm_groups = int(norm_groups)
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        channels = int(input_shape[-1])
        if channels % self.conv_groups:
            raise ValueError(f"AttentionModule input channels ({channels}) must divide by {self.conv_groups}")
        hidden = self.hidden_multiplier * channels  # outputs of one branch
        per_group = hidden // self.conv_groups
        if per_group % (self.norm_groups // self.conv_groups):
            raise ValueError(f"AttentionModule: {per_group} channels per conv group do not split into "
                             f"{self.norm_groups // self.conv_groups} norm groups")
        # One convolution per input group, producing that group's outputs for all four branches, ordered
        # (branch, j). Concatenated over groups the channel order is (group, branch, j).
        self.group_convs = [
            keras.layers.Conv2D(BRANCHES * per_group, 4, strides=2, padding="same", name=f"branch_conv_g{g}")
            for g in range(self.conv_groups)
        ]
        for conv in self.group_convs:
            conv.build((None, None, None, channels // self.conv_groups))
        # Contiguous GroupNorm groups over (group, branch, j) never mix branches: equal to per-branch GN.
        self.norm_gamma = self.add_weight(name="norm_gamma", shape=(BRANCHES * hidden,), initializer="ones")
        self.norm_beta = self.add_weight(name="norm_beta", shape=(BRANCHES * hidden,), initializer="zeros")
        # Heads: for each branch, one 1x1 conv to the encoder logit and one to the decoder logit.
        self.head_kernel = self.add_weight(
            name="head_kernel", shape=(BRANCHES * hidden, 2 * BRANCHES), initializer="glorot_uniform"
        )
        self.head_bias = self.add_weight(name="head_bias", shape=(2 * BRANCHES,), initializer="zeros")
        branch_of_channel = (np.arange(BRANCHES * hidden) % (BRANCHES * per_group)) // per_group
        branch_of_output = np.arange(2 * BRANCHES) % BRANCHES
        self._head_mask = (branch_of_channel[:, None] == branch_of_output[None, :]).astype("float32")
        super().build(input_shape)

    def call(self, features):
        parts = tf.split(features, self.conv_groups, axis=-1)
        hidden = tf.concat([conv(p) for conv, p in zip(self.group_convs, parts)], axis=-1)
        hidden = tf.nn.relu(self._group_norm(hidden))
        kernel = self.head_kernel * tf.constant(self._head_mask, dtype=self.head_kernel.dtype)
        logits = tf.nn.conv2d(hidden, kernel[None, None], strides=1, padding="VALID") + self.head_bias
        enc_logits, dec_logits = logits[..., :BRANCHES], logits[..., BRANCHES:]
        encoder_map = tf.nn.depth_to_space(tf.nn.softmax(tf.sigmoid(enc_logits), axis=-1), 2)
        decoder_map = tf.nn.depth_to_space(tf.sigmoid(dec_logits), 2)
        return [encoder_map, decoder_map]

    def _group_norm(self, x):
        """GroupNorm in one pass over x and x^2 (about 20 % faster to train than keras' GroupNormalization)."""
        groups = BRANCHES * self.norm_groups
        channels = x.shape[-1]
        shape = tf.shape(x)
        grouped = tf.reshape(x, tf.concat([shape[:3], [groups, channels // groups]], 0))
        mean = tf.reduce_mean(grouped, axis=[1, 2, 4], keepdims=True)
        mean_square = tf.reduce_mean(grouped * grouped, axis=[1, 2, 4], keepdims=True)  # x*x: SQUARE has no int8 kernel
        inv_std = tf.math.rsqrt(tf.maximum(mean_square - mean * mean, 0.0) + self.epsilon)
        scale = inv_std * tf.reshape(self.norm_gamma, (1, 1, 1, groups, -1))
        offset = tf.reshape(self.norm_beta, (1, 1, 1, groups, -1)) - mean * scale
        return tf.reshape(grouped * scale + offset, shape)

    def compute_output_shape(self, input_shape):
        shape = (*input_shape[:-1], 1)
        return [shape, shape]

    def get_config(self):
        return {
            **super().get_config(),
            "hidden_multiplier": self.hidden_multiplier,
            "conv_groups": self.conv_groups,
            "norm_groups": self.norm_groups,
            "epsilon": self.epsilon,
        }


@keras.saving.register_keras_serializable(package="alphanet")
class AttentionPooling(keras.layers.Layer):
    """Sum over each 2x2 window of feature x encoder attention: `[F (H x W x C), A (H x W x 1)] -> H/2 x W/2 x C`.

    Written as 4 x average pool so it maps to TFLite's int8 AVERAGE_POOL_2D.
    """

    def call(self, inputs):
        features, attention = inputs
        return 4.0 * tf.nn.avg_pool2d(features * attention, ksize=2, strides=2, padding="VALID")

    def compute_output_shape(self, input_shapes):
        n, h, w, c = input_shapes[0]
        return (n, None if h is None else h // 2, None if w is None else w // 2, c)


@keras.saving.register_keras_serializable(package="alphanet")
class AttentionUnpooling(keras.layers.Layer):
    """Nearest upsampling x2 of a decoder feature, times the decoder attention map of that resolution.

    `[X (H/2 x W/2 x C), A (H x W x 1)] -> H x W x C`. With `use_attention=False` (the ablation) the map is
    ignored and this is plain nearest unpooling.
    """

    def __init__(self, use_attention=True, **kwargs):
        super().__init__(**kwargs)
        self.use_attention = bool(use_attention)

    def call(self, inputs):
        features, attention = inputs
        size = tf.shape(attention)[1:3]
        up = tf.image.resize(features, size, method="nearest")
        return up * attention if self.use_attention else up

    def compute_output_shape(self, input_shapes):
        features_shape, attention_shape = input_shapes
        return (*attention_shape[:3], features_shape[-1])

    def get_config(self):
        return {**super().get_config(), "use_attention": self.use_attention}
