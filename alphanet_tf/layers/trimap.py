"""Trimap layers: the erosion-dilation (ED) layer of AlphaNet (paper III.A) and trimap-guided fusion.

The ED layer turns a segmentation probability into a trimap inside the graph. TFLite has no dynamic kernel
sizes, so the band is found with a fixed stack of 3x3 max-pools that measures the L-inf distance of every
pixel to the mask edge, compared with a per-image radius (a fraction of the mask's bounding box).
Every intermediate stays within [0, side] or [0, max_radius], so int8 post-training quantization keeps the
arithmetic (a sentinel like 1e9 for "no pixel" gives the int8 SUB a 3e6:1 scale ratio and the radius collapses),
and comparisons become 0/1 through `where` (SELECT has an int8 kernel; CAST of a bool leaves a float island).
"""

import keras
import tensorflow as tf

from alphanet_tf.trimap import HIGH, LOW


def indicator(condition, dtype=tf.float32):
    """1 where `condition`, else 0, as an int8-quantizable op (SELECT_V2 rather than CAST of a bool)."""
    return tf.where(condition, tf.constant(1.0, dtype), tf.constant(0.0, dtype))


@keras.saving.register_keras_serializable(package="alphanet")
class ErosionDilationTrimap(keras.layers.Layer):
    """Mask probability (N, H, W, 1) -> trimap in {0, 0.5, 1}; no gradient flows through it.

    The unknown band is `dilate(mask, r) - erode(mask, r)` with, per image in the batch,
    `r = rate * ((y2 - y1) + (x2 - x1)) / 2` from the mask's bounding box, clipped to
    `[min_radius, max_radius]` pixels. An empty mask gives an all-background trimap.

    With `clean_radius = k > 0` the thresholded mask is first closed with a (2k+1)-pixel square: holes and
    gaps narrower than that are filled instead of each becoming a square of unknown band inside the subject.
    (Opening as well, to drop specks, cost thin structures: measured worse on alphamatting.com objects.)

    With `unsure < 0.5`, pixels whose probability lies in `(unsure, 1 - unsure)` are unknown too, wherever
    they are: the band follows the segmentation's doubt, narrow on a confident person, wide over an object
    the net half-sees (MODEL_CARD.md "Round 8").

    Args:
        rate: band radius as a fraction of the mean bounding-box side.
        max_radius: largest radius in pixels (the number of max-pools in the stack).
        min_radius: smallest radius for a non-empty mask.
        threshold: probability at which a pixel counts as foreground.
        clean_radius: half-width in pixels of the closing that fills holes in the mask (0: none).
        unsure: probabilities strictly between `unsure` and `1 - unsure` are unknown (0.5: none).
    """

    def __init__(self, rate=0.04, max_radius=24, min_radius=1.0, threshold=0.5, clean_radius=0, unsure=0.5,
                 **kwargs):
        super().__init__(**kwargs)
        self.rate = float(rate)
        self.max_radius = int(max_radius)
        self.min_radius = float(min_radius)
        self.threshold = float(threshold)
        self.clean_radius = int(clean_radius)
        self.unsure = float(unsure)

    def clean(self, mask, complement=lambda x: 1.0 - x):
        """Closing (dilate, then erode as the complement's dilation) of a 0/1 mask by 3x3 max-pools, TFLite
        builtins; the frame border is not background, so a subject cut by the frame is not eroded from it."""
        def dilate(x):
            for _ in range(self.clean_radius):
                x = tf.nn.max_pool2d(x, ksize=3, strides=1, padding="SAME")
            return x

        if self.clean_radius <= 0:
            return mask
        return complement(dilate(complement(dilate(mask))))

    def band_radius(self, mask):
        """Per-image radius in pixels, shape (N, 1, 1, 1); 0 for an empty mask."""
        rows = tf.reduce_max(mask, axis=[2, 3])  # (N, H)
        cols = tf.reduce_max(mask, axis=[1, 3])  # (N, W)

        def extent(occupied):
            side = tf.cast(tf.shape(occupied)[1], mask.dtype)
            index = tf.cast(tf.range(tf.shape(occupied)[1]), mask.dtype)[None, :]
            last = tf.reduce_max(occupied * index, axis=1)
            first = side - tf.reduce_max(occupied * (side - index), axis=1)  # = side when nothing is occupied
            return tf.maximum(last - first, 0.0)

        nonempty = tf.reduce_max(rows, axis=1)
        radius = self.rate * (extent(rows) + extent(cols)) / 2.0
        radius = tf.clip_by_value(radius, self.min_radius, float(self.max_radius)) * nonempty
        return tf.reshape(radius, (-1, 1, 1, 1))

    def call(self, probability):
        probability = tf.stop_gradient(probability)
        mask = self.clean(indicator(probability >= self.threshold, probability.dtype))
        radius = self.band_radius(mask)
        # Channel 0 grows the mask (distance outside), channel 1 grows the background (distance inside).
        grown = tf.concat([mask, 1.0 - mask], axis=-1)
        steps_far = tf.zeros_like(grown)
        for _ in range(self.max_radius):
            grown = tf.nn.max_pool2d(grown, ksize=3, strides=1, padding="SAME")
            steps_far += 1.0 - grown
        # steps_far = min(distance - 1, max_radius): a pixel is in the band when distance <= radius.
        in_band = indicator(steps_far + 1.0 <= radius, probability.dtype)
        band_out = in_band[..., :1] * (1.0 - mask)
        band_in = in_band[..., 1:] * mask
        unknown = band_in + band_out
        if self.unsure < 0.5:  # only then, so models without it keep their graph
            unknown = tf.maximum(unknown, self.unsure_region(probability))
        trimap = mask * (1.0 - unknown) + 0.5 * unknown
        return tf.stop_gradient(trimap)

    def unsure_region(self, probability):
        """1 where `unsure < probability < 1 - unsure`, else 0."""
        return indicator(probability > self.unsure, probability.dtype) * \
            indicator(probability < 1.0 - self.unsure, probability.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "rate": self.rate,
            "max_radius": self.max_radius,
            "min_radius": self.min_radius,
            "threshold": self.threshold,
            "clean_radius": self.clean_radius,
            "unsure": self.unsure,
        }


@keras.saving.register_keras_serializable(package="alphanet")
class QuantizeTrimap(keras.layers.Layer):
    """Snaps a resized trimap back to {0, 0.5, 1} (`alphanet_tf.trimap`: below LOW -> 0, above HIGH -> 1)."""

    def call(self, trimap):
        fg = indicator(trimap > HIGH, trimap.dtype)
        unknown = indicator(trimap >= LOW, trimap.dtype) * (1.0 - fg)
        return tf.stop_gradient(fg + 0.5 * unknown)


@keras.saving.register_keras_serializable(package="alphanet")
class TrimapFusion(keras.layers.Layer):
    """Final alpha: 1 in known foreground, 0 in known background, the raw alpha in the unknown band.

    `[raw_alpha, trimap] -> alpha`, both (N, H, W, 1).
    """

    def call(self, inputs):
        raw_alpha, trimap = inputs
        fg = indicator(trimap > HIGH, raw_alpha.dtype)
        unknown = indicator(trimap >= LOW, raw_alpha.dtype) * (1.0 - fg)
        return fg + unknown * raw_alpha

    def compute_output_shape(self, input_shapes):
        return input_shapes[0]
