"""Quantization-aware training (QAT) of AlphaNet, natively in Keras 3, and `alphanet qat`.

    alphanet qat --model default --config training/configs/qat.yaml --out runs/qat     # -> runs/qat/qat.keras
    alphanet export --model default --qat-model runs/qat/qat.keras --out dist/ --formats tflite-int8-qat

tensorflow-model-optimization cannot quantize Keras 3 models (`quantize_model` raises "`to_quantize` can
only either be a keras Sequential or Functional model."), so this module does what tfmot's default 8-bit
scheme does, with Keras 3 layers of its own (all registered and serializable, package `alphanet_qat`):

- `quantize_model(model)` rebuilds the functional graph (nested `segmentation_net` / `matting_net` too):
  every Conv2D / DepthwiseConv2D followed by BatchNormalization (and ReLU / ReLU6) becomes one `QuantConv`
  layer that folds the BatchNorm into the kernel and bias, fake-quantises the folded kernel per output
  channel (symmetric, narrow range [-127, 127], what TFLite's int8 kernels use) and its output with a
  moving-average min/max `ActivationQuantizer`. BatchNorm statistics are frozen (moving mean/variance; the
  scale and offset still train): the fine-tune then computes exactly what the deployed graph computes.
- Adds, concatenations, means get an output quantizer; ops TFLite runs at the input's scale (padding,
  max-pool, resize, reshape, depth_to_space) get none; sigmoid/softmax outputs get TFLite's fixed range
  (scale 1/256, zero point -128), so the converter never has to requantize them.
- The project's custom layers are replaced by int8-friendly twins (same weights, same maths up to
  rounding) that fake-quantise every intermediate tensor: the ED trimap layer without the 1e9 sentinel,
  comparisons through `tf.where` (SELECT_V2), the attention module's group norm in its centred two-pass
  form (no SQUARE, no E[x^2] - E[x]^2 cancellation), the trimap values {0, 0.5, 1} on an exact grid.
- `calibrate(qat_model, images)` initialises the activation ranges (before fine-tuning the fake-quant
  model is then already close to the float model); `fine_tune` trains it on the end2end data.

The TFLite converter recognises TensorFlow's FakeQuant ops (`tf.quantization.fake_quant_with_min_max_vars`
and `..._per_channel`, what `keras.quantizers.fake_quant_with_min_max_vars` lowers to) and converts the QAT
model to int8 with the ranges learnt here: `export.tflite.convert(..., "tflite-int8-qat")`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

import alphanet_tf.layers  # noqa: F401  (registers the float layers, needed to load float models)
from alphanet_tf.layers import (AttentionModule, AttentionPooling, AttentionUnpooling, ErosionDilationTrimap,
                                ImageNormalization, QuantizeTrimap, ResizeLike, ResizeTo, TrimapFusion)
from alphanet_tf.layers.attention import BRANCHES
from alphanet_tf.trimap import BACKGROUND, FOREGROUND, HIGH, LOW, UNKNOWN

PACKAGE = "alphanet_qat"
#: TFLite's fixed output range of int8 LOGISTIC and SOFTMAX: scale 1/256, zero point -128.
UNIT_OUTPUT_RANGE = (0.0, 255.0 / 256.0)
#: {0, 1} masks: scale 1/255, both values exact.
MASK_RANGE = (0.0, 1.0)
#: trimaps {0, 0.5, 1}: scale 1/254, all three values exact (0.5 is 127 steps).
TRIMAP_RANGE = (0.0, 255.0 / 254.0)
DEFAULT_MOMENTUM = 0.99


def _fake_quant(x, lo, hi):
    """Per-tensor 8-bit fake quantisation (TF's FakeQuantWithMinMaxVars, which the TFLite converter reads)."""
    return tf.quantization.fake_quant_with_min_max_vars(x, lo, hi, num_bits=8, narrow_range=False)


def pow2_range(max_value: float, signed: bool = False) -> tuple[float, float]:
    """A fixed range whose int8 scale is a power of two >= max_value / 255 (integers stay exact when the
    scale is <= 1): for counters and pixel indices."""
    steps = 127.0 if signed else 255.0
    scale = 2.0 ** math.ceil(math.log2(max(float(max_value), 1e-6) / steps))
    return (-128.0 * scale, 127.0 * scale) if signed else (0.0, 255.0 * scale)


def fake_quant_weights(kernel, depthwise: bool = False):
    """Per-output-channel symmetric 8-bit fake quantisation of a conv kernel (narrow range [-127, 127]).

    Conv2D kernels are (kh, kw, in, out): one range per `out`. DepthwiseConv2D kernels (kh, kw, in, mult)
    are quantised per `in * mult` channel, TFLite's layout.
    """
    shape = tf.shape(kernel)
    flat = tf.reshape(kernel, tf.concat([shape[:2], [-1]], 0)) if depthwise else kernel
    axes = [0, 1] if depthwise else [0, 1, 2]
    limit = tf.stop_gradient(tf.maximum(tf.reduce_max(tf.abs(flat), axis=axes), 1e-8))
    quantised = tf.quantization.fake_quant_with_min_max_vars_per_channel(flat, -limit, limit, num_bits=8,
                                                                         narrow_range=True)
    return tf.reshape(quantised, shape) if depthwise else quantised


@keras.saving.register_keras_serializable(package=PACKAGE)
class ActivationQuantizer(keras.layers.Layer):
    """Fake-quantises activations to 8 bits with a moving-average min/max range (tfmot's scheme).

    In training the range follows the batch's min/max (the first batch sets it, later ones move it with
    `momentum`); in inference the stored range is used. The range always contains 0. With `fixed_range`
    the range is a constant (sigmoid outputs, masks, trimaps, counters). A list of tensors shares one range
    (so a concatenation of them needs no requantisation).

    Example:
        >>> q = ActivationQuantizer()
        >>> _ = q(np.linspace(-1, 3, 16, dtype="float32"), training=True)   # range -> [-1, 3]
        >>> [round(float(v), 3) for v in (q.range_min, q.range_max)]
        [-1.0, 3.0]
    """

    def __init__(self, momentum=DEFAULT_MOMENTUM, fixed_range=None, **kwargs):
        super().__init__(**kwargs)
        self.momentum = float(momentum)
        self.fixed_range = None if fixed_range is None else (float(fixed_range[0]), float(fixed_range[1]))
        # Scalars, created here rather than in build(): a parent layer rebuilt from its build config when a
        # .keras file loads never calls its children, and their state must exist for the weights to load.
        if self.fixed_range is None:
            self.range_min = self.add_weight(name="range_min", shape=(), initializer="zeros", trainable=False)
            self.range_max = self.add_weight(name="range_max", shape=(), initializer="zeros", trainable=False)
            self.seen = self.add_weight(name="seen", shape=(), initializer="zeros", trainable=False)
        self.calibrating = False  # set by `calibrate`: average the batch ranges instead of moving them
        self.built = True

    def call(self, inputs, training=None):
        many = isinstance(inputs, (list, tuple))
        xs = list(inputs) if many else [inputs]
        if self.fixed_range is not None:
            lo, hi = self.fixed_range
        elif training and self.trainable:
            batch_min = tf.minimum(tf.reduce_min(tf.stack([tf.reduce_min(x) for x in xs])), 0.0)
            batch_max = tf.maximum(tf.reduce_max(tf.stack([tf.reduce_max(x) for x in xs])), 0.0)
            if self.calibrating:  # the plain mean of the batches' extremes so far
                m = self.seen / (self.seen + 1.0)
            else:  # the first batch sets the range, later ones move it
                m = tf.where(self.seen < 0.5, 0.0, self.momentum)
            lo = m * self.range_min + (1.0 - m) * batch_min
            hi = m * self.range_max + (1.0 - m) * batch_max
            self.range_min.assign(lo)
            self.range_max.assign(hi)
            self.seen.assign(self.seen + 1.0)
            lo, hi = tf.stop_gradient(lo), tf.stop_gradient(hi)
        else:
            lo, hi = tf.convert_to_tensor(self.range_min), tf.convert_to_tensor(self.range_max)
        outs = [_fake_quant(x, lo, hi) for x in xs]
        return outs if many else outs[0]

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum,
                "fixed_range": None if self.fixed_range is None else list(self.fixed_range)}


_ACTIVATIONS = {"linear": None, "relu": tf.nn.relu, "relu6": tf.nn.relu6}


@keras.saving.register_keras_serializable(package=PACKAGE)
class QuantConv(keras.layers.Layer):
    """Conv2D or DepthwiseConv2D with BatchNorm folded in, per-channel fake-quantised weights, a fused
    ReLU / ReLU6 and a fake-quantised output: what one TFLite int8 CONV_2D / DEPTHWISE_CONV_2D computes.

    Folding (as tfmot does): k' = k * gamma / sqrt(var + eps) per output channel,
    b' = beta + (b - mean) * gamma / sqrt(var + eps). The BatchNorm statistics are frozen (non-trainable),
    gamma and beta train when the original BatchNorm did.
    """

    def __init__(self, kind="conv", filters=None, kernel_size=(1, 1), strides=(1, 1), padding="same",
                 dilation_rate=(1, 1), depth_multiplier=1, use_bias=False, batchnorm=False, epsilon=1e-3,
                 activation="linear", kernel_trainable=True, bn_trainable=True, momentum=DEFAULT_MOMENTUM,
                 **kwargs):
        super().__init__(**kwargs)
        if kind not in ("conv", "depthwise"):
            raise ValueError(f"QuantConv kind must be 'conv' or 'depthwise', got {kind!r}")
        if activation not in _ACTIVATIONS:
            raise ValueError(f"QuantConv activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
        self.kind = kind
        self.filters = None if filters is None else int(filters)
        self.kernel_size = tuple(int(k) for k in kernel_size)
        self.strides = tuple(int(s) for s in strides)
        self.padding = str(padding).lower()
        self.dilation_rate = tuple(int(d) for d in dilation_rate)
        self.depth_multiplier = int(depth_multiplier)
        self.use_bias = bool(use_bias)
        self.batchnorm = bool(batchnorm)
        self.epsilon = float(epsilon)
        self.activation = activation
        self.kernel_trainable = bool(kernel_trainable)
        self.bn_trainable = bool(bn_trainable)
        self.momentum = float(momentum)
        self.output_quantizer = ActivationQuantizer(momentum=momentum, name="output_quantizer")

    def build(self, input_shape):
        channels = int(input_shape[-1])
        if self.kind == "conv":
            kernel_shape = (*self.kernel_size, channels, self.filters)
            out = self.filters
        else:
            kernel_shape = (*self.kernel_size, channels, self.depth_multiplier)
            out = channels * self.depth_multiplier
        self.kernel = self.add_weight(name="kernel", shape=kernel_shape, initializer="glorot_uniform",
                                      trainable=self.kernel_trainable)
        self.bias = (self.add_weight(name="bias", shape=(out,), initializer="zeros",
                                     trainable=self.kernel_trainable) if self.use_bias else None)
        if self.batchnorm:
            self.gamma = self.add_weight(name="gamma", shape=(out,), initializer="ones", trainable=self.bn_trainable)
            self.beta = self.add_weight(name="beta", shape=(out,), initializer="zeros", trainable=self.bn_trainable)
            self.moving_mean = self.add_weight(name="moving_mean", shape=(out,), initializer="zeros", trainable=False)
            self.moving_variance = self.add_weight(name="moving_variance", shape=(out,), initializer="ones",
                                                   trainable=False)
        super().build(input_shape)

    def folded(self):
        """(kernel, bias) with the BatchNorm folded in, before weight quantisation."""
        kernel = tf.convert_to_tensor(self.kernel)
        out = kernel.shape[-1] if self.kind == "conv" else kernel.shape[-2] * kernel.shape[-1]
        bias = tf.convert_to_tensor(self.bias) if self.use_bias else tf.zeros((out,), kernel.dtype)
        if self.batchnorm:
            factor = self.gamma * tf.math.rsqrt(tf.stop_gradient(self.moving_variance) + self.epsilon)
            if self.kind == "conv":
                kernel = kernel * factor
            else:
                kernel = kernel * tf.reshape(factor, (kernel.shape[-2], kernel.shape[-1]))
            bias = self.beta + (bias - tf.stop_gradient(self.moving_mean)) * factor
        return kernel, bias

    def call(self, x, training=None):
        kernel, bias = self.folded()
        kernel = fake_quant_weights(kernel, depthwise=self.kind == "depthwise")
        padding = self.padding.upper()
        if self.kind == "conv":
            y = tf.nn.conv2d(x, kernel, strides=self.strides, padding=padding, dilations=self.dilation_rate)
        else:
            y = tf.nn.depthwise_conv2d(x, kernel, strides=(1, *self.strides, 1), padding=padding,
                                       dilations=self.dilation_rate)
        y = y + bias
        activation = _ACTIVATIONS[self.activation]
        if activation is not None:
            y = activation(y)
        return self.output_quantizer(y, training=training)

    def get_config(self):
        return {**super().get_config(), "kind": self.kind, "filters": self.filters,
                "kernel_size": list(self.kernel_size), "strides": list(self.strides), "padding": self.padding,
                "dilation_rate": list(self.dilation_rate), "depth_multiplier": self.depth_multiplier,
                "use_bias": self.use_bias, "batchnorm": self.batchnorm, "epsilon": self.epsilon,
                "activation": self.activation, "kernel_trainable": self.kernel_trainable,
                "bn_trainable": self.bn_trainable, "momentum": self.momentum}


# ------------------------------------------------------------------------------------------------------------
# int8-friendly twins of the project's custom layers (same weights and maths, every intermediate quantised)


class _QuantizedMixin:
    """Helpers for layers that own named quantizers (created in `__init__`, so they save with the layer)."""

    def _q(self, name, fixed_range=None):
        q = ActivationQuantizer(momentum=self.momentum, fixed_range=fixed_range, name=name)
        setattr(self, name, q)
        return q


@keras.saving.register_keras_serializable(package=PACKAGE)
class QuantImageNormalization(_QuantizedMixin, ImageNormalization):
    """ImageNet normalisation as one 1x1 depthwise convolution with a bias (one int8 DEPTHWISE_CONV_2D)."""

    def __init__(self, momentum=DEFAULT_MOMENTUM, **kwargs):
        super().__init__(**kwargs)
        self.momentum = float(momentum)
        self._q("q_out")

    def call(self, x, training=None):
        scale = tf.constant([1.0 / (255.0 * s) for s in self.std], dtype=x.dtype)
        offset = tf.constant([-m / s for m, s in zip(self.mean, self.std)], dtype=x.dtype)
        kernel = fake_quant_weights(tf.reshape(scale, (1, 1, -1, 1)), depthwise=True)
        y = tf.nn.depthwise_conv2d(x, kernel, strides=(1, 1, 1, 1), padding="VALID") + offset
        return self.q_out(y, training=training)

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum}


@keras.saving.register_keras_serializable(package=PACKAGE)
class QuantAttentionModule(_QuantizedMixin, AttentionModule):
    """`AttentionModule` with per-channel weight fake-quant, its group norm in the centred two-pass form
    (mean, x - mean, mean of the square: int8 MEAN / SUB / MUL / RSQRT, no SQUARE and no E[x^2] - E[x]^2
    cancellation) and every intermediate fake-quantised; sigmoid/softmax at TFLite's fixed range."""

    def __init__(self, momentum=DEFAULT_MOMENTUM, **kwargs):
        super().__init__(**kwargs)
        self.momentum = float(momentum)
        for name in ("q_conv", "q_mean", "q_centred", "q_square", "q_var", "q_var_eps", "q_inv_std", "q_scale",
                     "q_scaled", "q_norm", "q_logits"):
            self._q(name)
        for name in ("q_sigmoid_enc", "q_softmax", "q_sigmoid_dec"):
            self._q(name, UNIT_OUTPUT_RANGE)

    def call(self, features, training=None):
        parts = tf.split(features, self.conv_groups, axis=-1)
        hidden = [tf.nn.conv2d(p, fake_quant_weights(conv.kernel), strides=2, padding="SAME") + conv.bias
                  for conv, p in zip(self.group_convs, parts)]
        hidden = tf.concat(self.q_conv(hidden, training=training), axis=-1)
        hidden = self._group_norm_relu(hidden, training)
        kernel = self.head_kernel * tf.constant(self._head_mask, dtype=self.head_kernel.dtype)
        logits = tf.nn.conv2d(hidden, fake_quant_weights(kernel[None, None]), strides=1, padding="VALID")
        logits = logits + self.head_bias
        logits = self.q_logits(logits, training=training)
        enc_logits, dec_logits = logits[..., :BRANCHES], logits[..., BRANCHES:]
        encoder = self.q_softmax(tf.nn.softmax(self.q_sigmoid_enc(tf.sigmoid(enc_logits)), axis=-1))
        decoder = self.q_sigmoid_dec(tf.sigmoid(dec_logits))
        return [tf.nn.depth_to_space(encoder, 2), tf.nn.depth_to_space(decoder, 2)]

    def _group_norm_relu(self, x, training):
        q = lambda layer, t: layer(t, training=training)  # noqa: E731
        groups = BRANCHES * self.norm_groups
        channels = x.shape[-1]
        shape = tf.shape(x)
        grouped = tf.reshape(x, tf.concat([shape[:3], [groups, channels // groups]], 0))
        mean = q(self.q_mean, tf.reduce_mean(grouped, axis=[1, 2, 4], keepdims=True))
        centred = q(self.q_centred, grouped - mean)
        variance = q(self.q_var, tf.reduce_mean(q(self.q_square, centred * centred), axis=[1, 2, 4], keepdims=True))
        inv_std = q(self.q_inv_std, tf.math.rsqrt(q(self.q_var_eps, variance + self.epsilon)))
        scale = q(self.q_scale, inv_std * tf.reshape(self.norm_gamma, (1, 1, 1, groups, -1)))
        scaled = q(self.q_scaled, centred * scale)
        normed = tf.nn.relu(scaled + tf.reshape(self.norm_beta, (1, 1, 1, groups, -1)))
        return tf.reshape(q(self.q_norm, normed), shape)

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum}


@keras.saving.register_keras_serializable(package=PACKAGE)
class QuantAttentionPooling(_QuantizedMixin, AttentionPooling):
    """4 x average pool of F x A, the product and the result fake-quantised."""

    def __init__(self, momentum=DEFAULT_MOMENTUM, **kwargs):
        super().__init__(**kwargs)
        self.momentum = float(momentum)
        self._q("q_product")
        self._q("q_out")

    def call(self, inputs, training=None):
        features, attention = inputs
        product = self.q_product(features * attention, training=training)
        pooled = tf.nn.avg_pool2d(product, ksize=2, strides=2, padding="VALID")
        return self.q_out(4.0 * pooled, training=training)

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum}


@keras.saving.register_keras_serializable(package=PACKAGE)
class QuantAttentionUnpooling(_QuantizedMixin, AttentionUnpooling):
    """Nearest upsampling (runs at the input's scale) times the decoder map, fake-quantised."""

    def __init__(self, momentum=DEFAULT_MOMENTUM, **kwargs):
        super().__init__(**kwargs)
        self.momentum = float(momentum)
        self._q("q_out")

    def call(self, inputs, training=None):
        features, attention = inputs
        up = tf.image.resize(features, tf.shape(attention)[1:3], method="nearest")
        return self.q_out(up * attention, training=training) if self.use_attention else up

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum}


def _select(cond, a, b):
    """`tf.where` with broadcasting: TFLite SELECT_V2, which has an int8 kernel (a CAST of a bool has not)."""
    return tf.where(cond, a, b)


@keras.saving.register_keras_serializable(package=PACKAGE)
class QuantErosionDilationTrimap(_QuantizedMixin, ErosionDilationTrimap):
    """The ED trimap layer in int8-friendly form, every tensor on a fixed, exact grid.

    Same result as `ErosionDilationTrimap` up to the radius rounded to 1/8 px (coarser for a `max_radius`
    above 30) and bounding-box extents to the index grid (1 px up to 256 px, 2 px up to 512): the first
    occupied row/column comes from `max(occupied * (n - 1 - index))` instead of a 1e9 sentinel (which made
    every extent quantise to 0 in int8), comparisons feed SELECT_V2 (a CAST of a bool has no int8 kernel),
    and the distance is counted from 1 so that `distance <= radius` compares two tensors of one exact grid.
    Needs a static spatial size (the AlphaNet's `seg_size`).
    """

    def __init__(self, momentum=DEFAULT_MOMENTUM, **kwargs):
        super().__init__(**kwargs)
        self.momentum = float(momentum)
        radius_range = pow2_range(self.max_radius + 1)
        for name in ("q_mask", "q_inverse", "q_increment", "q_in_band", "q_band_out", "q_band_in", "q_band"):
            self._q(name, MASK_RANGE)
        self._q("q_distance", radius_range)
        self._q("q_radius", radius_range)
        self._q("q_trimap", TRIMAP_RANGE)
        if self.unsure < 0.5:  # only then, so QAT checkpoints of models without it keep their weights
            self._q("q_unsure", MASK_RANGE)

    @staticmethod
    def _extent(occupied, n):
        """Per-image (last - first) occupied index of a (N, n) 0/1 vector, 0 when empty; every tensor on the
        fixed grid of the indices (0..n-1) or of their sum (0..2(n-1))."""
        index_range, sum_range = pow2_range(n - 1), pow2_range(2 * (n - 1))
        index = tf.range(n, dtype=occupied.dtype)[None, :]
        last = tf.reduce_max(_fake_quant(occupied * index, *index_range), axis=1)
        first_from_end = tf.reduce_max(_fake_quant(occupied * (float(n - 1) - index), *index_range), axis=1)
        total = _fake_quant(last + first_from_end, *sum_range)  # last - first + (n - 1)
        return _fake_quant(tf.nn.relu(total - float(n - 1)), *index_range)

    def call(self, probability):
        probability = tf.stop_gradient(probability)
        n_h, n_w = probability.shape[1], probability.shape[2]
        if n_h is None or n_w is None:
            raise ValueError("QuantErosionDilationTrimap needs a static height and width")
        mask = self.clean(self.q_mask(_select(probability >= self.threshold, 1.0, 0.0)),
                          lambda x: self.q_inverse(1.0 - x))
        rows = tf.reduce_max(mask, axis=[2, 3])  # (N, H)
        cols = tf.reduce_max(mask, axis=[1, 3])  # (N, W)
        extents = _fake_quant(self._extent(rows, n_h) + self._extent(cols, n_w), *pow2_range(2 * (max(n_h, n_w) - 1)))
        nonempty = tf.reduce_max(rows, axis=1)
        radius = self.q_radius(extents * (self.rate / 2.0))
        radius = tf.clip_by_value(radius, self.min_radius, float(self.max_radius))
        radius = tf.reshape(self.q_radius(radius * nonempty), (-1, 1, 1, 1))
        # Channel 0 grows the mask (distance outside), channel 1 grows the background (distance inside).
        inverse = self.q_inverse(1.0 - mask)
        grown = tf.concat([mask, inverse], axis=-1)
        distance = None  # min(distance to the mask edge, max_radius + 1)
        for _ in range(self.max_radius):
            grown = tf.nn.max_pool2d(grown, ksize=3, strides=1, padding="SAME")
            increment = self.q_increment(1.0 - grown)
            distance = self.q_distance((1.0 if distance is None else distance) + increment)
        in_band = self.q_in_band(_select(distance <= radius, 1.0, 0.0))
        band_out = self.q_band_out(in_band[..., :1] * inverse)
        band_in = self.q_band_in(in_band[..., 1:] * mask)
        band = self.q_band(band_in + band_out)  # disjoint: band_in needs mask = 1, band_out mask = 0
        if self.unsure < 0.5:
            unsure = _select(probability > self.unsure, _select(probability < 1.0 - self.unsure, 1.0, 0.0), 0.0)
            band = tf.maximum(band, self.q_unsure(unsure))
        return tf.stop_gradient(self.q_trimap(_select(band > 0.5, 0.5, mask)))

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum}


@keras.saving.register_keras_serializable(package=PACKAGE)
class QuantQuantizeTrimap(_QuantizedMixin, QuantizeTrimap):
    """Snaps to {0, 0.5, 1} with two SELECT_V2 (values exact on the trimap grid)."""

    def __init__(self, momentum=DEFAULT_MOMENTUM, **kwargs):
        super().__init__(**kwargs)
        self.momentum = float(momentum)
        self._q("q_inner", TRIMAP_RANGE)
        self._q("q_out", TRIMAP_RANGE)

    def call(self, trimap):
        inner = self.q_inner(_select(trimap >= LOW, UNKNOWN, BACKGROUND))
        return tf.stop_gradient(self.q_out(_select(trimap > HIGH, FOREGROUND, inner)))

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum}


@keras.saving.register_keras_serializable(package=PACKAGE)
class QuantTrimapFusion(_QuantizedMixin, TrimapFusion):
    """1 in the known foreground, 0 in the background, the raw alpha in the band: two SELECT_V2."""

    def __init__(self, momentum=DEFAULT_MOMENTUM, **kwargs):
        super().__init__(**kwargs)
        self.momentum = float(momentum)
        self._q("q_inner", UNIT_OUTPUT_RANGE)
        self._q("q_out", MASK_RANGE)

    def call(self, inputs):
        raw_alpha, trimap = inputs
        inner = self.q_inner(_select(trimap >= LOW, raw_alpha, BACKGROUND))
        return self.q_out(_select(trimap > HIGH, FOREGROUND, inner))

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum}


QUANT_TWINS = {
    ImageNormalization: QuantImageNormalization,
    AttentionModule: QuantAttentionModule,
    AttentionPooling: QuantAttentionPooling,
    AttentionUnpooling: QuantAttentionUnpooling,
    ErosionDilationTrimap: QuantErosionDilationTrimap,
    QuantizeTrimap: QuantQuantizeTrimap,
    TrimapFusion: QuantTrimapFusion,
}
# Layers TFLite runs at their input's scale (int8 in == int8 out): no quantizer after them.
SAME_SCALE = (keras.layers.ZeroPadding2D, keras.layers.MaxPooling2D, keras.layers.Reshape, ResizeTo, ResizeLike,
              keras.layers.InputLayer)
# Layers whose output gets a moving-average quantizer.
NEEDS_OUTPUT_QUANTIZER = (keras.layers.Add, keras.layers.Concatenate, keras.layers.Multiply,
                          keras.layers.Subtract, keras.layers.GlobalAveragePooling2D, keras.layers.AveragePooling2D,
                          keras.layers.ReLU)


# ------------------------------------------------------------------------------------------------------------
# the graph transform


def _fn_name(fn) -> str:
    return getattr(fn, "__name__", str(fn))


def _activation_name(layer) -> str | None:
    """'relu' / 'relu6' / 'linear' for a ReLU or Activation layer (or a conv's own activation) that can be
    fused into a conv, else None."""
    if isinstance(layer, keras.layers.ReLU):
        if layer.negative_slope == 0 and layer.threshold == 0:
            if layer.max_value is None:
                return "relu"
            if float(layer.max_value) == 6.0:
                return "relu6"
        return None
    fn = getattr(layer, "activation", None)
    if fn is None:
        return None
    return {"relu": "relu", "relu6": "relu6", "linear": "linear"}.get(_fn_name(fn))


def _only_consumer(layer, model):
    """The one layer of `model` that consumes `layer`'s output, or None (zero or several consumers)."""
    inside = set(id(op) for op in model.operations)
    consumers = [node.operation for node in layer._outbound_nodes if id(node.operation) in inside]
    return consumers[0] if len(consumers) == 1 else None


def _plan_fusions(model):
    """conv layer -> (batchnorm or None, activation layer or None), and the set of layers fused away."""
    plan, absorbed = {}, set()
    for layer in model.operations:
        if not isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)):
            continue
        if getattr(layer, "groups", 1) != 1:
            raise NotImplementedError(f"{layer.name}: grouped convolutions are not supported by the QAT transform")
        bn = act = None
        own = _activation_name(layer)
        nxt = _only_consumer(layer, model)
        if own == "linear" and isinstance(nxt, keras.layers.BatchNormalization) and nxt.axis in (-1, 3):
            bn = nxt
            nxt = _only_consumer(bn, model)
        if own == "linear" and nxt is not None and _activation_name(nxt) in ("relu", "relu6"):
            act = nxt
        plan[id(layer)] = (bn, act)
        absorbed.update(id(x) for x in (bn, act) if x is not None)
    return plan, absorbed


def _make_quant_conv(conv, bn, act, momentum):
    depthwise = isinstance(conv, keras.layers.DepthwiseConv2D)
    activation = _activation_name(act if act is not None else conv)
    if activation not in _ACTIVATIONS:
        raise NotImplementedError(f"{conv.name}: activation {_fn_name(conv.activation)} cannot be fused")
    if conv.data_format != "channels_last":
        raise NotImplementedError(f"{conv.name}: only channels_last is supported")
    layer = QuantConv(
        kind="depthwise" if depthwise else "conv", filters=None if depthwise else conv.filters,
        kernel_size=conv.kernel_size, strides=conv.strides, padding=conv.padding, dilation_rate=conv.dilation_rate,
        depth_multiplier=conv.depth_multiplier if depthwise else 1, use_bias=conv.use_bias,
        batchnorm=bn is not None, epsilon=bn.epsilon if bn is not None else 1e-3, activation=activation,
        kernel_trainable=conv.trainable, bn_trainable=bn.trainable if bn is not None else True,
        momentum=momentum, name=conv.name)
    return layer


def _set_quant_conv_weights(layer, conv, bn):
    layer.kernel.assign(conv.kernel)
    if conv.use_bias:
        layer.bias.assign(conv.bias)
    if bn is not None:
        n = layer.gamma.shape[0]
        layer.gamma.assign(bn.gamma if bn.scale else np.ones(n, "float32"))
        layer.beta.assign(bn.beta if bn.center else np.zeros(n, "float32"))
        layer.moving_mean.assign(bn.moving_mean)
        layer.moving_variance.assign(bn.moving_variance)


def _copy_weights_by_path(source, target):
    """Assigns every variable of `source` to the variable of `target` with the same relative path."""
    def relative(v, root):
        return v.path[len(root.name) + 1:] if v.path.startswith(root.name + "/") else v.path

    wanted = {relative(v, target): v for v in target.weights}
    for v in source.weights:
        key = relative(v, source)
        if key not in wanted:
            raise ValueError(f"{target.name}: no variable {key!r} to copy the float weight into")
        wanted[key].assign(v)


def _is_image_input(tensor):
    return tensor.shape[-1] == 3


def quantize_model(model, momentum=DEFAULT_MOMENTUM, quantize_inputs=True):
    """The QAT twin of a float functional model (nested functional sub-models are transformed too).

    Weights are copied; activation ranges are uncalibrated (run `calibrate` before using the model).
    Inputs: image inputs (3 channels) get the fixed range [0, 255] (the int8 model then takes raw uint8
    pixels with scale 1, zero point 0), trimap inputs (1 channel) the exact trimap grid.
    """
    if not isinstance(model, keras.Model) or not hasattr(model, "_run_through_graph"):
        raise ValueError(f"quantize_model needs a functional Keras model, got {type(model).__name__}")
    plan, absorbed = _plan_fusions(model)
    new_inputs = keras.tree.map_structure(
        lambda x: keras.Input(batch_shape=x.shape, dtype=x.dtype, name=x.name), model.input)
    graph_inputs = new_inputs
    if quantize_inputs:
        def quantize_input(x):
            return ActivationQuantizer(fixed_range=(0.0, 255.0) if _is_image_input(x) else TRIMAP_RANGE,
                                       name=f"quantize_{x.name}")(x)
        graph_inputs = keras.tree.map_structure(quantize_input, new_inputs)
    to_copy = []

    def call_fn(layer, *args, **kwargs):
        if id(layer) in absorbed:
            return args[0]
        if id(layer) in plan:
            bn, act = plan[id(layer)]
            q = _make_quant_conv(layer, bn, act, momentum)
            out = q(*args, **kwargs)
            _set_quant_conv_weights(q, layer, bn)
            return out
        if isinstance(layer, keras.Model) and hasattr(layer, "_run_through_graph"):
            inner = quantize_model(layer, momentum, quantize_inputs=False)
            return inner(*args, **kwargs)
        twin = QUANT_TWINS.get(type(layer))
        if twin is not None:
            q = twin.from_config({**layer.get_config(), "momentum": momentum})
            out = q(*args, **kwargs)
            to_copy.append((layer, q))
            return out
        if isinstance(layer, keras.layers.BatchNormalization):
            raise NotImplementedError(f"{layer.name}: a BatchNormalization not right after a conv cannot be folded")
        if isinstance(layer, keras.layers.Activation) and _activation_name(layer) is None:
            name = _fn_name(layer.activation)
            if name not in ("sigmoid", "softmax"):
                raise NotImplementedError(f"{layer.name}: activation {name!r} has no int8 recipe here")
            clone = layer.__class__.from_config(layer.get_config())
            return ActivationQuantizer(fixed_range=UNIT_OUTPUT_RANGE, name=f"{layer.name}_quantizer")(
                clone(*args, **kwargs))
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense, keras.layers.BatchNormalization)):
            raise NotImplementedError(f"{layer.name}: {type(layer).__name__} is not handled")
        if layer.weights:
            raise NotImplementedError(f"{layer.name}: {type(layer).__name__} has weights the transform ignores")
        clone = layer.__class__.from_config(layer.get_config())
        out = clone(*args, **kwargs)
        if isinstance(layer, SAME_SCALE):
            return out
        if isinstance(layer, keras.layers.Activation) or isinstance(layer, NEEDS_OUTPUT_QUANTIZER):
            return ActivationQuantizer(momentum=momentum, name=f"{layer.name}_quantizer")(out)
        raise NotImplementedError(f"{layer.name}: {type(layer).__name__} has no int8 recipe in export.qat")

    outputs = model._run_through_graph(graph_inputs, operation_fn=lambda layer: layer, call_fn=call_fn)
    qat = keras.Model(new_inputs, outputs, name=model.name)
    for source, target in to_copy:
        _copy_weights_by_path(source, target)
    return qat


def activation_quantizers(model):
    """Every moving-range ActivationQuantizer in `model` (nested layers and sub-models included)."""
    found = []
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, ActivationQuantizer) and layer.fixed_range is None:
            found.append(layer)
    return found


def calibrate(qat_model, batches):
    """Sets the activation ranges from `batches` (iterable of model inputs): each range becomes the mean of
    the batches' min / max (the model runs in training mode; BatchNorm statistics are frozen in QuantConv,
    so nothing else changes). Fine-tuning then moves the ranges with their momentum. Returns the number of
    batches seen."""
    quantizers = activation_quantizers(qat_model)
    for q in quantizers:
        q.calibrating = True
    try:
        step = tf.function(lambda x: qat_model(x, training=True), jit_compile=False, reduce_retracing=True)
        count = 0
        for x in batches:
            step(x)
            count += 1
    finally:
        for q in quantizers:
            q.calibrating = False
    if count == 0:
        raise ValueError("calibrate needs at least one batch")
    unset = [q.path for q in quantizers if float(q.seen.numpy()) < 0.5]
    if unset:
        raise RuntimeError(f"{len(unset)} activation quantizers saw no data, e.g. {unset[:3]}")
    return count


def is_qat_model(model) -> bool:
    """True when the model contains this module's fake-quant layers."""
    return any(isinstance(layer, (ActivationQuantizer, QuantConv))
               for layer in model._flatten_layers(include_self=False, recursive=True))


# ------------------------------------------------------------------------------------------------------------
# fine-tuning: `alphanet qat`

DEFAULTS = {
    "model": "default", "size": 256, "batch_size": 4, "epochs": 3, "steps_per_epoch": 100, "val_size": 32,
    "learning_rate": 2e-5, "min_learning_rate": 1e-6, "gamma": 0.5, "segmentation_loss_weight": 0.5,
    "people_weight": 0.25, "calibration_batches": 8, "quantizer_momentum": DEFAULT_MOMENTUM,
    "backup_every_steps": 25, "seed": 0,
}


def load_config(path=None, overrides=None):
    """DEFAULTS, then the YAML file (unknown keys refused), then `overrides` (None values ignored)."""
    import yaml

    config = dict(DEFAULTS)
    if path:
        path = Path(path)
        if not path.is_file():
            from training.config import CONFIG_DIR

            if (CONFIG_DIR / path.name).is_file():
                path = CONFIG_DIR / path.name
        if not path.is_file():
            raise FileNotFoundError(f"config not found: {path}")
        loaded = yaml.safe_load(path.read_text()) or {}
        unknown = set(loaded) - set(config)
        if unknown:
            raise ValueError(f"{path}: unknown keys {sorted(unknown)}")
        config.update(loaded)
    config.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return config


def _data_config(config):
    """The end2end stage's data config (image -> {alpha, segmentation}) with this run's sizes and weights; the
    stage's defaults fill every other key `training.stages.datasets` reads."""
    from training.config import load_config as load_stage_config

    keys = ("size", "batch_size", "seed", "people_weight", "val_size", "segmentation_loss_weight")
    return load_stage_config("end2end", None, {k: config[k] for k in keys})


def compile_for_fine_tune(model, config):
    """Adam with a cosine decay; the end2end losses (matting loss on alpha, optional focal + dice on the
    segmentation, which the QAT segmentation net needs to adapt: no gradient reaches it through the ED layer)."""
    from alphanet_tf.losses import FocalDiceLoss, MattingLoss
    from training.callbacks import loss_view
    from training.stages import _AlphaMAE

    steps = config["epochs"] * config["steps_per_epoch"]
    schedule = keras.optimizers.schedules.CosineDecay(
        config["learning_rate"], decay_steps=max(steps, 1), alpha=config["min_learning_rate"] / config["learning_rate"])
    loss = {"alpha": MattingLoss(gamma=config["gamma"])}
    weights = {"alpha": 1.0}
    if config["segmentation_loss_weight"] > 0:
        loss["segmentation"] = FocalDiceLoss()
        weights["segmentation"] = config["segmentation_loss_weight"]
    else:
        model.get_layer("segmentation_net").trainable = False
    view = loss_view(model, loss)  # the trimap has no loss: train a view without it (same weights)
    view.compile(optimizer=keras.optimizers.Adam(schedule), loss=loss, loss_weights=weights,
                 metrics={"alpha": [_AlphaMAE()]}, jit_compile=False)
    return view


def fine_tune(float_model, config, out, train=None, val=None, verbose="auto"):
    """Transform, calibrate (unless resuming), fine-tune with checkpoints; writes `out/qat.keras`.

    `train` / `val` default to the end2end pipelines of `training.data`. Resumable: re-running the same
    command continues from `out/backup` (BackupAndRestore).
    """
    import yaml

    from training.callbacks import LearningCurvePlot, SaveBestModel
    from training.train import resume_point

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=True))
    if train is None:
        from training.stages import datasets

        train, val = datasets(_data_config(config))
    qat = quantize_model(float_model, momentum=config["quantizer_momentum"])
    resumed = resume_point(out / "backup")
    if resumed:
        print(f"qat: resuming from epoch {resumed[0] + 1}, step {resumed[1] + 1} ({out / 'backup'})", flush=True)
    else:
        seen = calibrate(qat, (x for x, _ in train.take(config["calibration_batches"])))
        print(f"qat: calibrated the activation ranges on {seen} batches", flush=True)
    trainer = compile_for_fine_tune(qat, config)
    callbacks = [
        keras.callbacks.BackupAndRestore(str(out / "backup"), save_freq=config["backup_every_steps"],
                                         delete_checkpoint=True, double_checkpoint=True),  # a kill mid-write keeps the previous backup
        keras.callbacks.CSVLogger(str(out / "log.csv"), append=True),
        keras.callbacks.TerminateOnNaN(),
        LearningCurvePlot(out / "log.csv", out / "learning_curve.png"),
    ]
    if val is not None:
        callbacks.insert(1, SaveBestModel(qat, out / "best.keras", monitor="val_loss"))
    start = time.time()
    history = trainer.fit(train, validation_data=val, epochs=config["epochs"],
                          steps_per_epoch=config["steps_per_epoch"], callbacks=callbacks, verbose=verbose)
    qat.save(out / "qat.keras")
    summary = {"wall_seconds": round(time.time() - start, 1), "epochs": config["epochs"],
               "steps": config["epochs"] * config["steps_per_epoch"],
               "final": {k: float(v[-1]) for k, v in history.history.items()}}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return qat, history


def load_qat_model(path):
    """A `qat.keras` written by `alphanet qat` (the QAT layers are registered by importing this module)."""
    return keras.saving.load_model(str(path), compile=False)


EXAMPLES = """\
examples:
  alphanet qat --model default --config training/configs/qat.yaml --out runs/qat
  alphanet qat --model runs/end2end/best.keras --out runs/qat --steps-per-epoch 50
  alphanet export --model default --qat-model runs/qat/qat.keras --out dist/ --formats tflite-int8-qat
Re-running the same command after a kill resumes from runs/qat/backup.
"""


def build_parser():
    parser = argparse.ArgumentParser(
        prog="alphanet qat", description="Quantization-aware fine-tuning of a trained AlphaNet (native Keras 3 "
        "fake quantisation, BatchNorm folded); writes OUT/qat.keras for `alphanet export --qat-model`.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="the float .keras AlphaNet, or 'default' (default: the config's)")
    parser.add_argument("--config", help="YAML config (default: the built-in recipe, as training/configs/qat.yaml)")
    parser.add_argument("--out", required=True, help="run folder: qat.keras, best.keras, log.csv, backup/")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--steps-per-epoch", type=int, dest="steps_per_epoch")
    parser.add_argument("--batch-size", type=int, dest="batch_size")
    parser.add_argument("--size", type=int, help="training crop side (a multiple of 32)")
    parser.add_argument("--threads", type=int, help="TensorFlow threads (default: all cores)")
    return parser


def main(argv=None) -> int:
    """Entry point of `alphanet qat` (and `python -m export.qat`)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0)
    overrides = {k: getattr(args, k) for k in ("model", "epochs", "steps_per_epoch", "batch_size", "size")}
    try:
        config = load_config(args.config, overrides)
        if config["size"] % 32:
            raise ValueError(f"size {config['size']} is not a multiple of 32")
        from alphanet_tf.bundle import ModelError, resolve_model_path

        try:
            model_path = resolve_model_path(config["model"])
        except ModelError as e:
            raise ValueError(str(e)) from None
    except (FileNotFoundError, ValueError) as e:
        print(f"alphanet qat: error: {e}", file=sys.stderr)
        return 2
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    config["model"] = str(model_path)
    float_model = keras.saving.load_model(str(model_path), compile=False)
    fine_tune(float_model, config, args.out, verbose=1 if sys.stdout.isatty() else 2)
    print(f"qat: wrote {Path(args.out) / 'qat.keras'}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main())
