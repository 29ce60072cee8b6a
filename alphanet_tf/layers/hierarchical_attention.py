"""HAttMatting's hierarchical attention (Qiao et al., CVPR 2020) and the alpha -> trimap layer it ships with.

- `ChannelAttention`, "pyramidal features distillation": ASPP features do not contribute equally to the alpha,
  so a global average pool -> shared MLP (bottleneck `channels / reduction`) -> sigmoid reweights the channels.
- `SpatialAttention`, "appearance cues filtration": low-level features carry background texture too, so a map
  computed from the distilled semantics (two k x 1 / 1 x k convolution branches, as in the pyramid feature
  attention network HAttMatting builds on) -> sigmoid multiplies them.
- `AlphaTrimap`: a trimap derived from the predicted alpha, so HAttMatting's output dict matches AlphaNet's.

`use_attention=False` makes either attention layer a weightless pass-through (the paper's ablations).
Ops: mean, matmul, conv, sigmoid, mul, compare, select: TFLite builtins with int8 kernels (an int8 PTQ
conversion of HAttMattingNet at 128 x 128 was checked here to have no float op).
"""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="alphanet")
class ChannelAttention(keras.layers.Layer):
    """(N, H, W, C) -> the same features with each channel scaled by a learnt, image-dependent weight in (0, 1).

    Args:
        reduction: hidden width of the shared MLP is `max(channels // reduction, min_hidden)`.
        use_attention: False returns the input unchanged (ablation "without channel attention").

    Example:
        >>> ChannelAttention()(keras.ops.ones((1, 4, 4, 32))).shape
        (1, 4, 4, 32)
    """

    def __init__(self, reduction=8, min_hidden=8, use_attention=True, **kwargs):
        super().__init__(**kwargs)
        self.reduction = int(reduction)
        self.min_hidden = int(min_hidden)
        self.use_attention = bool(use_attention)

    def build(self, input_shape):
        if self.use_attention:
            channels = int(input_shape[-1])
            hidden = max(channels // self.reduction, self.min_hidden)
            self.hidden_kernel = self.add_weight(shape=(channels, hidden), initializer="he_normal", name="hidden_kernel")
            self.hidden_bias = self.add_weight(shape=(hidden,), initializer="zeros", name="hidden_bias")
            self.output_kernel = self.add_weight(shape=(hidden, channels), initializer="glorot_uniform",
                                                 name="output_kernel")
            self.output_bias = self.add_weight(shape=(channels,), initializer="zeros", name="output_bias")
        super().build(input_shape)

    def attention(self, x):
        """Per-image channel weights, (N, 1, 1, C)."""
        pooled = tf.reduce_mean(x, axis=[1, 2])  # (N, C)
        hidden = tf.nn.relu(tf.matmul(pooled, self.hidden_kernel) + self.hidden_bias)
        weights = tf.sigmoid(tf.matmul(hidden, self.output_kernel) + self.output_bias)
        return weights[:, None, None, :]

    def call(self, x):
        if not self.use_attention:
            return x
        return x * self.attention(x)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "reduction": self.reduction, "min_hidden": self.min_hidden,
                "use_attention": self.use_attention}


@keras.saving.register_keras_serializable(package="alphanet")
class SpatialAttention(keras.layers.Layer):
    """`[cues (N, H, W, C), semantics (N, H, W, S)]` -> cues times a map in (0, 1) computed from the semantics.

    The map is `sigmoid(conv_kx1(relu(conv_1xk(s))) + conv_1xk(relu(conv_kx1(s))))`: a k x k receptive field
    at the cost of 1-D kernels. Both inputs must share H and W (upsample the semantics first).

    Args:
        filters: channels of the hidden 1-D convolutions.
        kernel_size: k.
        use_attention: False returns the cues unchanged (ablation "without spatial attention").
    """

    def __init__(self, filters=32, kernel_size=7, use_attention=True, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.use_attention = bool(use_attention)
        if self.use_attention:
            k = self.kernel_size
            self.row_first = [keras.layers.Conv2D(self.filters, (1, k), padding="same", activation="relu",
                                                  name="row_first_1"),
                              keras.layers.Conv2D(1, (k, 1), padding="same", name="row_first_2")]
            self.column_first = [keras.layers.Conv2D(self.filters, (k, 1), padding="same", activation="relu",
                                                     name="column_first_1"),
                                 keras.layers.Conv2D(1, (1, k), padding="same", name="column_first_2")]

    def build(self, input_shapes):
        if self.use_attention:
            semantics_shape = tuple(input_shapes[1])
            for branch in (self.row_first, self.column_first):
                branch[0].build(semantics_shape)
                branch[1].build((*semantics_shape[:-1], self.filters))
        super().build(input_shapes)

    def attention(self, semantics):
        """The map, (N, H, W, 1)."""
        row = self.row_first[1](self.row_first[0](semantics))
        column = self.column_first[1](self.column_first[0](semantics))
        return tf.sigmoid(row + column)

    def call(self, inputs):
        cues, semantics = inputs
        if not self.use_attention:
            return cues
        return cues * self.attention(semantics)

    def compute_output_shape(self, input_shapes):
        return input_shapes[0]

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "use_attention": self.use_attention}


@keras.saving.register_keras_serializable(package="alphanet")
class AlphaTrimap(keras.layers.Layer):
    """Alpha (N, H, W, 1) -> trimap in {0, 0.5, 1}: 1 above `high`, 0 below `low`, 0.5 between; no gradient.

    A trimap-free model has no trimap of its own; deriving one from its alpha lets the CLI, evaluator and
    exporter treat it like AlphaNet (and shows where the model itself is unsure).
    """

    def __init__(self, low=0.05, high=0.95, **kwargs):
        super().__init__(**kwargs)
        self.low = float(low)
        self.high = float(high)

    def call(self, alpha):
        # SELECT_V2 rather than casts of the comparisons: it has int8 kernels, so an int8 graph stays int8.
        alpha = tf.stop_gradient(alpha)
        half = tf.where(alpha >= self.low, tf.constant(0.5, alpha.dtype), tf.constant(0.0, alpha.dtype))
        return tf.where(alpha > self.high, tf.constant(1.0, alpha.dtype), half)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "low": self.low, "high": self.high}
