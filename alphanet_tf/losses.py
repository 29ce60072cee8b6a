"""Losses: AlphaNet's matting loss (paper IV.A) and focal + dice for segmentation.

Keras losses see one `y_true` tensor, so the matting target packs what the composition term needs:
`y_true = concat[alpha (1), foreground RGB in [0, 1] (3), background RGB in [0, 1] (3)]`.
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="alphanet")
class MattingLoss(keras.losses.Loss):
    """gamma * L1(alpha) + (1 - gamma) * L1(composite), averaged over the whole image.

    The composite is `alpha * FG + (1 - alpha) * BG` with the sample's true FG and BG, compared with the same
    composite made with the true alpha (so degradations applied to the input image do not bias the loss).
    """

    def __init__(self, gamma=0.5, name="matting_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.gamma = float(gamma)

    def call(self, y_true, y_pred):
        alpha_true, fg, bg = y_true[..., :1], y_true[..., 1:4], y_true[..., 4:7]
        alpha_pred = y_pred[..., :1]
        alpha_l1 = ops.mean(ops.abs(alpha_pred - alpha_true), axis=(1, 2, 3))
        composite_error = (alpha_pred - alpha_true) * (fg - bg)  # = predicted composite - true composite
        composite_l1 = ops.mean(ops.abs(composite_error), axis=(1, 2, 3))
        return self.gamma * alpha_l1 + (1.0 - self.gamma) * composite_l1

    def get_config(self):
        return {**super().get_config(), "gamma": self.gamma}


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
