"""HAttMatting training: the generator and its PatchGAN discriminator in one loop (a custom `train_step`).

`HAttGAN` wraps both nets so the ordinary trainer (`training/train.py`: compile, fit, BackupAndRestore,
ModelCheckpoint, CSV log) runs them unchanged:
- `compile(optimizer, loss, metrics)` is the generator's; the discriminator gets its own Adam (pix2pix:
  beta_1 0.5), created in `compile` and tracked, so its state is in every BackupAndRestore checkpoint.
- Each step: one generator forward, the discriminator on real and generated (image, alpha) pairs, then the
  generator steps on `loss + adversarial_weight * L_adv` and the discriminator on its own loss.
- Logs: `loss` is the compiled (reconstruction) loss, MSE + (1 - SSIM), in training and validation alike,
  so `val_loss` picks checkpoints by matte quality and not by the state of the adversarial game;
  `adv_loss` and `d_loss` are logged beside it.
- `save(path)` writes the generator alone to `path` (the model that is evaluated and exported: ModelCheckpoint's
  `best.keras` and the trainer's `final.keras`) and the discriminator beside it (`<stem>_discriminator.keras`).

`build_hattmatting(config)` is the stage builder (same contract as `training.stages.build_matting`).
"""

from pathlib import Path

import keras
import tensorflow as tf
from keras.src.losses.loss import unscale_loss_for_distribution

from alphanet_tf.backbones import freeze_backbone_batchnorm
from alphanet_tf.losses_hatt import ADVERSARIAL_WEIGHT, HybridMattingLoss, discriminator_loss, generator_adversarial_loss
from alphanet_tf.models.hattmatting import HAttMattingNet
from alphanet_tf.models.patchgan import PatchGANDiscriminator
from training.config import DEFAULTS

# The `hattmatting` stage's defaults: AlphaNet's matting recipe plus the HAttMatting architecture switches,
# the hybrid loss weights and the discriminator.
HATT_DEFAULTS = DEFAULTS["hattmatting"]


def _image_of(x):
    """The RGB batch: the matting pipeline yields `{"image", "trimap"}`; HAttMatting ignores the trimap."""
    return x["image"] if isinstance(x, dict) else x


class HAttGAN(keras.Model):
    """Trains `generator` (an HAttMattingNet) against `discriminator` (a PatchGAN on (image, alpha)).

    Calling it returns the generator's alpha (N, H, W, 1), which the compiled loss and metrics receive.

    Args:
        adversarial_weight: weight of the generator's adversarial term; 0 trains without the GAN (the
            discriminator is then neither run nor trained).
        d_learning_rate: learning rate (or schedule) of the discriminator's Adam, used unless `compile`
            is given a `d_optimizer`.
    """

    def __init__(self, generator, discriminator, adversarial_weight=ADVERSARIAL_WEIGHT, d_learning_rate=2e-4,
                 **kwargs):
        kwargs.setdefault("name", "hatt_gan")
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.adversarial_weight = float(adversarial_weight)
        self.d_learning_rate = d_learning_rate
        self.d_optimizer = None
        self.adversarial_tracker = keras.metrics.Mean(name="adv_loss")
        self.discriminator_tracker = keras.metrics.Mean(name="d_loss")
        self.built = True  # both nets are built functional models

    def call(self, inputs, training=False):
        return self.generator(_image_of(inputs), training=training)["alpha"]

    def compile(self, optimizer="adam", loss=None, d_optimizer=None, **kwargs):
        """As `keras.Model.compile` for the generator (loss defaults to the hybrid loss), plus `d_optimizer`."""
        super().compile(optimizer=optimizer, loss=loss if loss is not None else HybridMattingLoss(), **kwargs)
        self.d_optimizer = d_optimizer or keras.optimizers.Adam(self.d_learning_rate, beta_1=0.5)
        # Built now on the right variables: each optimizer owns one net's slots, and BackupAndRestore
        # can load both states before the first step.
        self.optimizer.build(self.generator.trainable_variables)
        self.d_optimizer.build(self.discriminator.trainable_variables)

    def _adversarial_terms(self, image, alpha_true, alpha, training):
        real_logits = self.discriminator([image, alpha_true], training=training)
        fake_logits = self.discriminator([image, alpha], training=training)
        return generator_adversarial_loss(fake_logits), discriminator_loss(real_logits, fake_logits)

    def _track(self, reconstruction, adversarial, d_loss, batch):
        self._loss_tracker.update_state(unscale_loss_for_distribution(reconstruction), sample_weight=batch)
        if adversarial is not None:
            self.adversarial_tracker.update_state(unscale_loss_for_distribution(adversarial), sample_weight=batch)
            self.discriminator_tracker.update_state(unscale_loss_for_distribution(d_loss), sample_weight=batch)

    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        image = _image_of(x)
        use_gan = self.adversarial_weight > 0
        adversarial = d_loss = None
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            alpha = self.generator(image, training=True)["alpha"]
            reconstruction = self._compute_loss(x=x, y=y, y_pred=alpha, sample_weight=sample_weight, training=True)
            g_loss = reconstruction
            if use_gan:
                adversarial, d_loss = self._adversarial_terms(image, y[..., :1], alpha, training=True)
                g_loss = g_loss + self.adversarial_weight * adversarial
        g_vars = self.generator.trainable_variables
        self.optimizer.apply_gradients(zip(g_tape.gradient(g_loss, g_vars), g_vars))
        if use_gan:
            d_vars = self.discriminator.trainable_variables
            self.d_optimizer.apply_gradients(zip(d_tape.gradient(d_loss, d_vars), d_vars))
        self._track(reconstruction, adversarial, d_loss, tf.shape(image)[0])
        return self.compute_metrics(x, y, alpha, sample_weight=sample_weight)

    def test_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        image = _image_of(x)
        alpha = self.generator(image, training=False)["alpha"]
        reconstruction = self._compute_loss(x=x, y=y, y_pred=alpha, sample_weight=sample_weight, training=False)
        adversarial = d_loss = None
        if self.adversarial_weight > 0:
            adversarial, d_loss = self._adversarial_terms(image, y[..., :1], alpha, training=False)
        self._track(reconstruction, adversarial, d_loss, tf.shape(image)[0])
        return self.compute_metrics(x, y, alpha, sample_weight=sample_weight)

    def save(self, filepath, overwrite=True, **kwargs):
        """Writes the generator to `filepath` and, for a `.keras` path, the discriminator to
        `<stem>_discriminator.keras` beside it. The full training state (both nets and both optimizers) is
        `save_weights`' (what BackupAndRestore uses)."""
        self.generator.save(filepath, overwrite=overwrite, **kwargs)
        path = Path(filepath)
        if path.suffix == ".keras":
            self.discriminator.save(path.with_name(f"{path.stem}_discriminator.keras"), overwrite=overwrite)


def _alpha_mae(y_true, y_pred):
    return tf.reduce_mean(tf.abs(y_true[..., :1] - y_pred), axis=[1, 2, 3])


def _cosine(config, learning_rate):
    steps = config["epochs"] * config["steps_per_epoch"]
    alpha = config["min_learning_rate"] / config["learning_rate"]  # the generator's decay, same shape
    return keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=steps, alpha=alpha)


def build_hattmatting(config):
    """Stage `hattmatting`: returns `(model, loss, metrics)` like `training.stages.build_matting`.

    The model is an `HAttGAN`; its `save` writes the generator alone, so `best.keras` / `final.keras` load as
    the HAttMattingNet (`{"alpha", "trimap", "segmentation"}`) that the evaluator and exporter take.
    """
    generator = HAttMattingNet(channel_attention=config["channel_attention"],
                               spatial_attention=config["spatial_attention"], weights=config["weights"])
    if config["freeze_backbone_bn"]:
        freeze_backbone_batchnorm(generator)
    discriminator = PatchGANDiscriminator(filters=config["d_filters"], num_layers=config["d_layers"],
                                          norm=config["d_norm"])
    model = HAttGAN(generator, discriminator, adversarial_weight=config["adversarial_weight"],
                    d_learning_rate=_cosine(config, config["d_learning_rate"]))
    loss = HybridMattingLoss(mse_weight=config["mse_weight"], ssim_weight=config["ssim_weight"])
    return model, loss, [keras.metrics.MeanMetricWrapper(_alpha_mae, name="alpha_mae")]
