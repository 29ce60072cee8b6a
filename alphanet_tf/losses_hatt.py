"""HAttMatting's hybrid loss (Qiao et al., CVPR 2020): MSE + (1 - SSIM) here, plus an adversarial term.

The paper weighs pixel accuracy (MSE), structure (SSIM) and visual quality (a PatchGAN adversarial loss on
(image, alpha) pairs). The first two are `HybridMattingLoss`, a plain Keras loss on the alpha; the adversarial
term needs the discriminator, so it lives in the GAN training step (`training/hatt.py`) and uses the two
functions at the end of this file.

Default weights: MSE 1.0, SSIM 0.1, adversarial 0.05. The paper summary in `../shared/papers` carries the
loss formulas only as lost images, without numbers; these values are those of a public re-implementation
(github.com/Windaway/HAttMatting, `train_matting.py`: `mse + 0.1 * ssim`, `+ 0.05 * adversarial`), not
checked against the paper's own text. They are config values (`training/configs/hattmatting.yaml`).

`y_true` may be the packed matting target `[alpha, fg, bg]` (7 channels, see `alphanet_tf.losses`) or the
alpha alone: only its first channel is read.
"""

import keras
import tensorflow as tf

MSE_WEIGHT = 1.0
SSIM_WEIGHT = 0.1
ADVERSARIAL_WEIGHT = 0.05


def ssim(alpha_true, alpha_pred, filter_size=11, filter_sigma=1.5, k1=0.01, k2=0.03):
    """Per-image SSIM of (N, H, W, 1) mattes in [0, 1], shape (N,); `tf.image.ssim` (Gaussian window, VALID
    padding, so H and W must be at least `filter_size`)."""
    return tf.image.ssim(alpha_true, alpha_pred, max_val=1.0, filter_size=filter_size, filter_sigma=filter_sigma,
                         k1=k1, k2=k2)


@keras.saving.register_keras_serializable(package="alphanet")
class HybridMattingLoss(keras.losses.Loss):
    """`mse_weight * MSE(alpha) + ssim_weight * (1 - SSIM(alpha))`, per image over the whole image."""

    def __init__(self, mse_weight=MSE_WEIGHT, ssim_weight=SSIM_WEIGHT, filter_size=11, filter_sigma=1.5,
                 name="hybrid_matting_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.mse_weight = float(mse_weight)
        self.ssim_weight = float(ssim_weight)
        self.filter_size = int(filter_size)
        self.filter_sigma = float(filter_sigma)

    def call(self, y_true, y_pred):
        alpha_true, alpha_pred = y_true[..., :1], y_pred[..., :1]
        loss = self.mse_weight * tf.reduce_mean(tf.square(alpha_pred - alpha_true), axis=[1, 2, 3])
        if self.ssim_weight:
            structure = ssim(alpha_true, alpha_pred, self.filter_size, self.filter_sigma)
            loss += self.ssim_weight * (1.0 - structure)
        return loss

    def get_config(self):
        return {**super().get_config(), "mse_weight": self.mse_weight, "ssim_weight": self.ssim_weight,
                "filter_size": self.filter_size, "filter_sigma": self.filter_sigma}


_BCE = keras.losses.BinaryCrossentropy(from_logits=True)


def discriminator_loss(real_logits, fake_logits):
    """The paper's L_adv for D: real pairs -> 1, generated pairs -> 0 (binary cross-entropy on patch logits),
    halved as in pix2pix so D learns at the generator's pace."""
    return 0.5 * (_BCE(tf.ones_like(real_logits), real_logits) + _BCE(tf.zeros_like(fake_logits), fake_logits))


def generator_adversarial_loss(fake_logits):
    """The generator's side of L_adv in its non-saturating form: -log D(I, G(I)) per patch."""
    return _BCE(tf.ones_like(fake_logits), fake_logits)
