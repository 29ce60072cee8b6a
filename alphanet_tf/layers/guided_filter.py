"""Colour guided filter (He, Sun and Tang, 2013) of an alpha matte, guided by the photo.

Inside every (2r+1)^2 window it fits alpha ~ a . I + b to the photo's colours I, with ridge `epsilon` on a,
and averages the fits over the windows that cover a pixel: the local linear colour model behind closed-form
matting, without a global solve. On a net's alpha it puts back strands and edges the photo shows that the
net's decoder smoothed (measured in MODEL_CARD.md "Round 4"). Box means are average pools (padding excluded
from the count), the 3x3 systems are solved in closed form (adjugate): plain ops, any input size.
"""

import keras
import tensorflow as tf


def _box_mean(x, radius):
    """Mean over the (2r+1)^2 window of each pixel, counting only pixels inside the image."""
    return tf.nn.avg_pool2d(x, ksize=2 * radius + 1, strides=1, padding="SAME")


@keras.saving.register_keras_serializable(package="alphanet")
class GuidedFilter(keras.layers.Layer):
    """`[image (N, H, W, 3) RGB in [0, 255], alpha (N, H, W, 1)] -> filtered alpha (N, H, W, 1)` (unclipped).

    Args:
        radius: window radius in pixels of the working resolution.
        epsilon: ridge on the linear coefficients, in (colour / 255)^2 units: larger keeps the alpha smoother.
    """

    def __init__(self, radius=4, epsilon=1e-4, **kwargs):
        super().__init__(**kwargs)
        self.radius, self.epsilon = int(radius), float(epsilon)

    def call(self, inputs):
        image, p = inputs
        guide = tf.cast(image, p.dtype) / 255.0
        r, g, b = tf.unstack(guide, axis=-1)
        products = [r * r, r * g, r * b, g * g, g * b, b * b]
        stack = tf.concat([guide, p, guide * p, tf.stack(products, axis=-1)], axis=-1)
        means = tf.unstack(_box_mean(stack, self.radius), axis=-1)
        mean_i, mean_p, mean_ip, mean_ii = means[0:3], means[3], means[4:7], means[7:13]
        cov_ip = [mean_ip[c] - mean_i[c] * mean_p for c in range(3)]
        pairs = [(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)]
        var = {pair: mean_ii[k] - mean_i[pair[0]] * mean_i[pair[1]] for k, pair in enumerate(pairs)}
        rr, rg, rb = var[(0, 0)] + self.epsilon, var[(0, 1)], var[(0, 2)]
        gg, gb, bb = var[(1, 1)] + self.epsilon, var[(1, 2)], var[(2, 2)] + self.epsilon
        # inverse of the symmetric [[rr, rg, rb], [rg, gg, gb], [rb, gb, bb]] by its adjugate
        inv_rr, inv_rg, inv_rb = gg * bb - gb * gb, gb * rb - rg * bb, rg * gb - gg * rb
        inv_gg, inv_gb, inv_bb = rr * bb - rb * rb, rb * rg - rr * gb, rr * gg - rg * rg
        det = rr * inv_rr + rg * inv_rg + rb * inv_rb
        a_r = (inv_rr * cov_ip[0] + inv_rg * cov_ip[1] + inv_rb * cov_ip[2]) / det
        a_g = (inv_rg * cov_ip[0] + inv_gg * cov_ip[1] + inv_gb * cov_ip[2]) / det
        a_b = (inv_rb * cov_ip[0] + inv_gb * cov_ip[1] + inv_bb * cov_ip[2]) / det
        offset = mean_p - a_r * mean_i[0] - a_g * mean_i[1] - a_b * mean_i[2]
        coefficients = _box_mean(tf.stack([a_r, a_g, a_b, offset], axis=-1), self.radius)
        return tf.reduce_sum(coefficients[..., :3] * guide, axis=-1, keepdims=True) + coefficients[..., 3:]

    def compute_output_shape(self, input_shapes):
        return input_shapes[1]

    def get_config(self):
        return {**super().get_config(), "radius": self.radius, "epsilon": self.epsilon}
