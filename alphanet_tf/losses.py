"""Losses: AlphaNet's matting loss (paper IV.A) and focal + dice for segmentation.

Keras losses see one `y_true` tensor, so the matting target packs what the composition term needs:
`y_true = concat[alpha (1), foreground RGB in [0, 1] (3), background RGB in [0, 1] (3)]`, and for the
loss over the unknown band only, the trimap as an eighth channel.
"""

import keras
from keras import ops

from alphanet_tf.trimap import HIGH, LOW


@keras.saving.register_keras_serializable(package="alphanet")
class MattingLoss(keras.losses.Loss):
    """gamma * L1(alpha) + (1 - gamma) * L1(composite), averaged over the whole image or the unknown band.

    The composite is `alpha * FG + (1 - alpha) * BG` with the sample's true FG and BG, compared with the same
    composite made with the true alpha (so degradations applied to the input image do not bias the loss).
    `region="unknown"` averages over the trimap's band only (Deep Image Matting's form; y_true's eighth
    channel is the trimap): AlphaNet's final alpha takes the known regions from the trimap, so the raw alpha
    there never reaches the output, and the whole-image mean spends most of its gradient on them.
    """

    def __init__(self, gamma=0.5, region="whole", name="matting_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        if region not in ("whole", "unknown"):
            raise ValueError(f"region must be 'whole' or 'unknown', got {region!r}")
        self.gamma = float(gamma)
        self.region = region

    def call(self, y_true, y_pred):
        alpha_true, fg, bg = y_true[..., :1], y_true[..., 1:4], y_true[..., 4:7]
        alpha_pred = y_pred[..., :1]
        composite_error = (alpha_pred - alpha_true) * (fg - bg)  # = predicted composite - true composite
        per_pixel = self.gamma * ops.abs(alpha_pred - alpha_true) + (1.0 - self.gamma) * ops.mean(
            ops.abs(composite_error), axis=-1, keepdims=True)
        return region_mean(per_pixel, y_true, self.region)

    def get_config(self):
        return {**super().get_config(), "gamma": self.gamma, "region": self.region}


def region_mean(per_pixel, y_true, region):
    """Per-image mean of `per_pixel` (N, H, W, 1) over the whole image, or over the unknown band of the trimap
    packed as `y_true[..., 7]` (an image without band counts 0)."""
    if region == "whole":
        return ops.mean(per_pixel, axis=(1, 2, 3))
    trimap = y_true[..., 7:8]
    band = ops.cast((trimap >= LOW) & (trimap <= HIGH), per_pixel.dtype)
    return ops.sum(per_pixel * band, axis=(1, 2, 3)) / ops.maximum(ops.sum(band, axis=(1, 2, 3)), 1.0)


@keras.saving.register_keras_serializable(package="alphanet")
class FocalDiceLoss(keras.losses.Loss):
    """Binary focal loss (alpha-balanced) + soft dice loss, on probabilities; per image."""

    def __init__(self, focal_gamma=2.0, focal_alpha=0.25, dice_weight=1.0, epsilon=1e-6,
                 name="focal_dice_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.focal_gamma = float(focal_gamma)
        self.focal_alpha = float(focal_alpha)
        self.dice_weight = float(dice_weight)
        self.epsilon = float(epsilon)

    def call(self, y_true, y_pred):
        p = ops.clip(y_pred, self.epsilon, 1.0 - self.epsilon)
        p_t = y_true * p + (1.0 - y_true) * (1.0 - p)
        alpha_t = y_true * self.focal_alpha + (1.0 - y_true) * (1.0 - self.focal_alpha)
        focal = -alpha_t * ops.power(1.0 - p_t, self.focal_gamma) * ops.log(p_t)
        focal = ops.mean(focal, axis=(1, 2, 3))
        intersection = ops.sum(y_true * y_pred, axis=(1, 2, 3))
        total = ops.sum(y_true, axis=(1, 2, 3)) + ops.sum(y_pred, axis=(1, 2, 3))
        dice = 1.0 - (2.0 * intersection + 1.0) / (total + 1.0)
        return focal + self.dice_weight * dice

    def get_config(self):
        return {**super().get_config(), "focal_gamma": self.focal_gamma, "focal_alpha": self.focal_alpha,
                "dice_weight": self.dice_weight, "epsilon": self.epsilon}
