"""HAttMatting: hierarchical attention layers, the trimap-free net, the hybrid loss, the PatchGAN and GAN training."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
import yaml

from alphanet_tf.layers.hierarchical_attention import AlphaTrimap, ChannelAttention, SpatialAttention
from alphanet_tf.losses_hatt import HybridMattingLoss, discriminator_loss, generator_adversarial_loss, ssim
from alphanet_tf.models.hattmatting import HAttMattingNet
from alphanet_tf.models.patchgan import PatchGANDiscriminator
from tests.helpers import assert_config_round_trip, assert_saved_model_identical, assert_training_reduces_loss
from training.config import CONFIG_DIR
from training.hatt import HATT_DEFAULTS, HAttGAN, build_hattmatting

RNG = np.random.default_rng(0)
H, W = 64, 96  # not square, multiples of 32


def image(n=2, h=H, w=W):
    return RNG.uniform(0, 255, (n, h, w, 3)).astype("float32")


def features(n=2, h=16, w=24, c=32):
    return RNG.normal(size=(n, h, w, c)).astype("float32")


def matting_target(n=2, h=H, w=W):
    """Packed [alpha, fg, bg] with a blocky alpha (structure for SSIM to see)."""
    alpha = (RNG.random((n, h // 8, w // 8, 1)) > 0.5).repeat(8, axis=1).repeat(8, axis=2)
    return np.concatenate([alpha, RNG.uniform(0, 1, (n, h, w, 6))], axis=-1).astype("float32")


def _wrap(layer, *shapes):
    """A functional model around one layer, for the shared `.keras` and training checks."""
    inputs = [keras.Input(s) for s in shapes]
    inputs = inputs if len(inputs) > 1 else inputs[0]
    return keras.Model(inputs, layer(inputs))


# --- layers ------------------------------------------------------------------------------------------------

def test_channel_attention(tmp_path):
    x = features()
    layer = ChannelAttention(reduction=4)
    out = layer(x)
    assert out.shape == x.shape
    assert layer(features(1, 5, 7)).shape == (1, 5, 7, 32)  # odd sizes
    weights = np.asarray(layer.attention(x))
    assert weights.shape == (2, 1, 1, 32) and weights.min() > 0 and weights.max() < 1
    np.testing.assert_allclose(np.asarray(out), x * weights, rtol=1e-5, atol=1e-6)
    assert_config_round_trip(layer, x)
    model = _wrap(ChannelAttention(reduction=4), (None, None, 32))
    assert_saved_model_identical(model, x, tmp_path)
    assert_training_reduces_loss(model, x, np.abs(x) * 0.5, "mse", learning_rate=1e-2)


def test_spatial_attention(tmp_path):
    cues, semantics = features(c=16), features(c=32)
    layer = SpatialAttention(filters=8, kernel_size=5)
    out = layer([cues, semantics])
    assert out.shape == cues.shape
    assert layer([features(1, 5, 7, 16), features(1, 5, 7, 32)]).shape == (1, 5, 7, 16)  # odd sizes
    spatial_map = np.asarray(layer.attention(semantics))
    assert spatial_map.shape == (2, 16, 24, 1) and spatial_map.min() > 0 and spatial_map.max() < 1
    np.testing.assert_allclose(np.asarray(out), cues * spatial_map, rtol=1e-5, atol=1e-6)
    assert_config_round_trip(layer, [cues, semantics])
    model = _wrap(SpatialAttention(filters=8, kernel_size=5), (None, None, 16), (None, None, 32))
    assert_saved_model_identical(model, [cues, semantics], tmp_path)
    target = cues * (semantics[..., :1] > 0)  # keep the cues where the semantics say so
    assert_training_reduces_loss(model, [cues, semantics], target, "mse", learning_rate=1e-2)


def test_attention_flags_make_weightless_pass_throughs():
    x, cues = features(), features(c=16)
    channel = ChannelAttention(use_attention=False)
    spatial = SpatialAttention(use_attention=False)
    np.testing.assert_array_equal(np.asarray(channel(x)), x)
    np.testing.assert_array_equal(np.asarray(spatial([cues, x])), cues)
    assert not channel.weights and not spatial.weights
    assert ChannelAttention.from_config(channel.get_config()).use_attention is False


def test_alpha_trimap():
    alpha = np.array([0.0, 0.04, 0.05, 0.5, 0.95, 0.96, 1.0], "float32").reshape(1, 1, 7, 1)
    trimap = np.asarray(AlphaTrimap()(alpha)).ravel()
    np.testing.assert_array_equal(trimap, [0, 0, 0.5, 0.5, 0.5, 1, 1])
    assert AlphaTrimap.from_config(AlphaTrimap(low=0.1, high=0.8).get_config()).high == pytest.approx(0.8)


# --- the network -------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def hatt():
    return HAttMattingNet(weights=None)


def test_hattmatting_outputs(hatt):
    for h, w in ((H, W), (96, 160)):
        out = hatt(image(2, h, w))
        assert set(out) == {"alpha", "trimap", "segmentation"}
        for value in out.values():
            assert value.shape == (2, h, w, 1)
    alpha, tri = np.asarray(out["alpha"]), np.asarray(out["trimap"])
    assert alpha.min() >= 0 and alpha.max() <= 1
    np.testing.assert_array_equal(np.asarray(out["segmentation"]), alpha)
    np.testing.assert_array_equal(tri, np.asarray(AlphaTrimap()(alpha)))


def test_hattmatting_round_trips(hatt, tmp_path):
    x = image(1)
    assert_saved_model_identical(hatt, x, tmp_path)
    clone = keras.Model.from_config(hatt.get_config())
    clone.set_weights(hatt.get_weights())
    for key, value in hatt(x).items():
        np.testing.assert_allclose(np.asarray(value), np.asarray(clone(x)[key]), atol=1e-5)


def test_hattmatting_generator_training_step():
    model = HAttMattingNet(weights=None)
    assert_training_reduces_loss(model, image(), {"alpha": matting_target()}, {"alpha": HybridMattingLoss()})


@pytest.mark.parametrize("channel_attention,spatial_attention", [(False, True), (True, False), (False, False)])
def test_hattmatting_ablations_build(channel_attention, spatial_attention):
    model = HAttMattingNet(channel_attention=channel_attention, spatial_attention=spatial_attention, weights=None)
    assert model(image(1))["alpha"].shape == (1, H, W, 1)
    assert bool(model.get_layer("channel_attention").weights) == channel_attention
    assert bool(model.get_layer("spatial_attention").weights) == spatial_attention


def test_hattmatting_loads_imagenet_weights():
    model = HAttMattingNet(weights="imagenet")
    kernel = model.get_layer("Conv1").kernel
    fresh = HAttMattingNet(weights=None).get_layer("Conv1").kernel
    assert not np.allclose(np.asarray(kernel), np.asarray(fresh))


# --- the hybrid loss ---------------------------------------------------------------------------------------

def _constant(value, n=1, size=16):
    return np.full((n, size, size, 1), value, "float32")


def test_ssim_term_is_zero_for_identical_inputs():
    target = matting_target(2)
    alpha = target[..., :1]
    np.testing.assert_allclose(np.asarray(ssim(alpha, alpha)), 1.0, atol=1e-5)
    loss = HybridMattingLoss(mse_weight=0.0, ssim_weight=1.0)
    assert float(loss(alpha, alpha)) == pytest.approx(0.0, abs=1e-5)
    assert float(HybridMattingLoss()(target, alpha)) == pytest.approx(0.0, abs=1e-5)  # packed target


@pytest.mark.parametrize("a,b", [(0.0, 1.0), (0.5, 0.25), (0.2, 0.2)])
def test_hybrid_loss_on_constant_mattes(a, b):
    # Flat images have no variance: SSIM is the luminance term (2ab + C1) / (a^2 + b^2 + C1), C1 = 0.01^2.
    # (tf.image.ssim's structure term is 1 only up to float32 rounding of its Gaussian window, divided by
    # C2 = 0.03^2: about 1e-4 relative, hence the tolerance.)
    c1 = 0.01 ** 2
    expected_ssim = (2 * a * b + c1) / (a * a + b * b + c1)
    np.testing.assert_allclose(np.asarray(ssim(_constant(a), _constant(b))), [expected_ssim], rtol=5e-4, atol=1e-6)
    loss = HybridMattingLoss(mse_weight=1.0, ssim_weight=0.1)
    expected = (a - b) ** 2 + 0.1 * (1 - expected_ssim)
    assert float(loss(_constant(a), _constant(b))) == pytest.approx(expected, rel=5e-4, abs=1e-6)


def test_hybrid_loss_defaults_and_config():
    loss = HybridMattingLoss()
    assert (loss.mse_weight, loss.ssim_weight) == (1.0, 0.1)
    clone = HybridMattingLoss.from_config(HybridMattingLoss(ssim_weight=0.5, filter_size=7).get_config())
    assert (clone.ssim_weight, clone.filter_size) == (0.5, 7)


def test_adversarial_losses():
    confident_real, confident_fake = tf.fill((2, 4, 4, 1), 20.0), tf.fill((2, 4, 4, 1), -20.0)
    assert float(discriminator_loss(confident_real, confident_fake)) == pytest.approx(0.0, abs=1e-6)
    assert float(generator_adversarial_loss(confident_real)) == pytest.approx(0.0, abs=1e-6)
    undecided = tf.zeros((2, 4, 4, 1))
    assert float(discriminator_loss(undecided, undecided)) == pytest.approx(np.log(2), rel=1e-5)


# --- the discriminator -------------------------------------------------------------------------------------

@pytest.mark.parametrize("num_layers,norm", [(3, "batch"), (2, "instance"), (3, "none")])
def test_discriminator_outputs_a_patch_grid(num_layers, norm):
    disc = PatchGANDiscriminator(filters=8, num_layers=num_layers, norm=norm)
    alpha = RNG.uniform(0, 1, (2, H, W, 1)).astype("float32")
    scale = 2 ** num_layers
    assert disc([image(), alpha]).shape == (2, H // scale, W // scale, 1)
    alpha_big = RNG.uniform(0, 1, (1, 96, 160, 1)).astype("float32")
    assert disc([image(1, 96, 160), alpha_big]).shape == (1, 96 // scale, 160 // scale, 1)


def test_discriminator_round_trips(tmp_path):
    disc = PatchGANDiscriminator(filters=8)
    inputs = [image(1), RNG.uniform(0, 1, (1, H, W, 1)).astype("float32")]
    assert_config_round_trip(disc, inputs)
    assert_saved_model_identical(disc, inputs, tmp_path)
    with pytest.raises(ValueError, match="layer"):
        PatchGANDiscriminator(norm="layer")


# --- GAN training ------------------------------------------------------------------------------------------

def _gan(adversarial_weight=0.05, **kwargs):
    return HAttGAN(HAttMattingNet(weights=None, **kwargs), PatchGANDiscriminator(filters=8),
                   adversarial_weight=adversarial_weight)


def test_gan_training_step_lowers_the_loss_and_trains_the_discriminator():
    gan = _gan()
    before = [np.asarray(v).copy() for v in gan.discriminator.trainable_variables]
    assert_training_reduces_loss(gan, image(), matting_target(), HybridMattingLoss())
    after = gan.discriminator.trainable_variables
    assert any(not np.allclose(b, np.asarray(a)) for b, a in zip(before, after))
    assert int(gan.d_optimizer.iterations) == 10 and int(gan.optimizer.iterations) == 10
    logs = gan.train_on_batch({"image": image(), "trimap": np.zeros((2, H, W, 1), "float32")}, matting_target(),
                              return_dict=True)
    assert {"loss", "adv_loss", "d_loss"} <= set(logs) and all(np.isfinite(list(logs.values())))


def test_gan_without_adversarial_term_leaves_the_discriminator_alone():
    gan = _gan(adversarial_weight=0.0)
    gan.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=False)
    before = [np.asarray(v).copy() for v in gan.discriminator.weights]
    gan.train_on_batch(image(), matting_target())
    for b, a in zip(before, gan.discriminator.weights):
        np.testing.assert_array_equal(b, np.asarray(a))


def test_gan_checkpoints_resume_and_save_the_generator_alone(tmp_path):
    x, y = image(), matting_target()
    backup = tmp_path / "backup"
    gan = _gan()
    gan.compile(optimizer=keras.optimizers.Adam(1e-3), loss=HybridMattingLoss(), jit_compile=False)
    gan.fit(x, y, batch_size=2, epochs=1, verbose=0,
            callbacks=[keras.callbacks.BackupAndRestore(str(backup), delete_checkpoint=False)])
    assert json.loads((backup / "training_metadata.json").read_text())["epoch"] == 1

    resumed = _gan()  # fresh weights, restored by the callback before any step (epoch 1 of 1 is done)
    resumed.compile(optimizer=keras.optimizers.Adam(1e-3), loss=HybridMattingLoss(), jit_compile=False)
    resumed.fit(x, y, batch_size=2, epochs=1, verbose=0,
                callbacks=[keras.callbacks.BackupAndRestore(str(backup), delete_checkpoint=False)])
    for a, b in zip(gan.discriminator.weights + gan.generator.weights,
                    resumed.discriminator.weights + resumed.generator.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert int(resumed.d_optimizer.iterations) == int(gan.d_optimizer.iterations) == 1
    for a, b in zip(gan.d_optimizer.variables, resumed.d_optimizer.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))

    gan.save(tmp_path / "best.keras")  # what ModelCheckpoint and the trainer call
    generator = keras.saving.load_model(tmp_path / "best.keras", compile=False)
    assert generator.name == "hattmatting_net" and "patchgan_discriminator" not in [l.name for l in generator.layers]
    np.testing.assert_allclose(np.asarray(generator(x[:1])["alpha"]), np.asarray(gan(x[:1])), atol=1e-5)
    disc = keras.saving.load_model(tmp_path / "best_discriminator.keras", compile=False)
    assert disc.name == "patchgan_discriminator"


def test_stage_builder_trains_on_the_matting_pipeline_form():
    config = dict(HATT_DEFAULTS)
    loaded = yaml.safe_load((CONFIG_DIR / "hattmatting.yaml").read_text())
    assert set(loaded) <= set(HATT_DEFAULTS)
    config.update(loaded)
    config.update(weights=None, epochs=1, steps_per_epoch=1, d_filters=8, stage="hattmatting")
    model, loss, metrics = build_hattmatting(config)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss, metrics=metrics, jit_compile=False)
    x = {"image": image(), "trimap": np.zeros((2, H, W, 1), "float32")}  # what matting_dataset yields
    history = model.fit(x, matting_target(), validation_data=(x, matting_target()), batch_size=2, epochs=1,
                        verbose=0)
    assert {"loss", "alpha_mae", "adv_loss", "d_loss", "val_loss", "val_alpha_mae"} <= set(history.history)
    frozen = [l for l in model.generator.layers if isinstance(l, keras.layers.BatchNormalization) and not l.trainable]
    assert frozen  # freeze_backbone_bn applied to the backbone


def test_stage_defaults_use_the_hybrid_loss_constants_and_the_cli_knows_the_stage():
    from alphanet_tf.losses_hatt import ADVERSARIAL_WEIGHT, MSE_WEIGHT, SSIM_WEIGHT
    from training.cli import build_parser
    from training.stages import BUILDERS

    assert (HATT_DEFAULTS["mse_weight"], HATT_DEFAULTS["ssim_weight"], HATT_DEFAULTS["adversarial_weight"]) == (
        MSE_WEIGHT, SSIM_WEIGHT, ADVERSARIAL_WEIGHT)
    assert build_parser().parse_args(["hattmatting", "--out", "x"]).stage == "hattmatting"
    assert "hattmatting" in BUILDERS


def test_a_saved_hattmatting_net_runs_through_the_matter(tmp_path):
    """The CLI, evaluator and exporter load models through `Matter`; in a fresh process (where nothing has
    imported the HAttMatting layers yet) a saved HAttMattingNet must load there."""
    import subprocess
    import sys

    HAttMattingNet(weights=None).save(tmp_path / "hatt.keras")
    code = ("import numpy as np; from alphanet_tf import Matter; "
            f"a = Matter({str(tmp_path / 'hatt.keras')!r}, threads=1).matte(np.zeros((40, 56, 3), np.uint8)); "
            "print(a.shape, a.dtype)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("(40, 56) float32")


def test_benchmarks_take_hattmatting_as_a_trimap_free_method_of_ours(hatt, tiny_model_path, tmp_path):
    """`benchmarks.run --hatt NAME=PATH`: scored in Table I only (no matting stage to take a given trimap)."""
    from benchmarks.ours import has_matting_stage
    from benchmarks.registry import SelectionError, select_methods

    hatt.save(tmp_path / "hatt.keras")
    assert has_matting_stage(tiny_model_path) and not has_matting_stage(tmp_path / "hatt.keras")
    (method,) = select_methods(model=tiny_model_path, methods=["hattmatting"],
                               hatt=[f"HAttMatting={tmp_path / 'hatt.keras'}"])
    assert (method.name, method.given_trimap) == ("HAttMatting", False)
    (ours,) = select_methods(model=tiny_model_path, methods=["alphanet"])
    assert ours.given_trimap
    with pytest.raises(SelectionError, match="--hatt must be NAME=PATH"):
        select_methods(model=tiny_model_path, hatt=["hatt.keras"])
