"""FusedBatchNormalization: the same numbers as Keras' BatchNormalization, through TensorFlow's fused kernel."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from alphanet_tf.layers import FusedBatchNormalization
from tests.helpers import assert_config_round_trip, assert_saved_model_identical


def _pair(**kwargs):
    x = np.random.default_rng(0).normal(2.0, 3.0, (2, 5, 7, 4)).astype("float32")
    fused, plain = FusedBatchNormalization(**kwargs), keras.layers.BatchNormalization(**kwargs)
    fused.fused_min_pixels = 0  # the fused kernel even on this tiny map
    fused.build(x.shape), plain.build(x.shape)
    weights = [np.random.default_rng(i).uniform(0.5, 1.5, 4).astype("float32") for i in range(len(plain.weights))]
    fused.set_weights(weights), plain.set_weights(weights)
    return x, fused, plain


@pytest.mark.parametrize("kwargs", [{"momentum": 0.9}, {"momentum": 0.99, "epsilon": 1e-5},
                                    {"scale": False, "center": False}])
def test_training_step_matches_keras_batch_norm(kwargs):
    x, fused, plain = _pair(**kwargs)
    xt = tf.constant(x)
    outputs, grads = [], []
    for layer in (fused, plain):
        with tf.GradientTape() as tape:
            tape.watch(xt)
            y = layer(xt, training=True)
            loss = tf.reduce_sum(y * tf.range(1.0, 5.0))  # weights the channels differently
        outputs.append(y.numpy())
        grads.append(tape.gradient(loss, [xt] + [w.value for w in layer.trainable_weights]))
    np.testing.assert_allclose(outputs[0], outputs[1], atol=1e-4)
    for a, b in zip(*grads):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-3)
    # moving statistics updated the same way (Keras uses the biased batch variance)
    np.testing.assert_allclose(fused.moving_mean.numpy(), plain.moving_mean.numpy(), rtol=1e-5)
    np.testing.assert_allclose(fused.moving_variance.numpy(), plain.moving_variance.numpy(), rtol=1e-5)


def test_moving_statistics_by_hand():
    x = np.arange(2 * 3 * 1 * 2, dtype="float32").reshape(2, 3, 1, 2)  # channel 0: 0, 2, ..., 10
    layer = FusedBatchNormalization(momentum=0.75)
    layer.fused_min_pixels = 0
    layer.build(x.shape)  # moving mean 0, moving variance 1
    layer(x, training=True)
    c0 = x[..., 0].ravel()
    np.testing.assert_allclose(layer.moving_mean.numpy()[0], 0.25 * c0.mean(), rtol=1e-6)
    np.testing.assert_allclose(layer.moving_variance.numpy()[0], 0.75 + 0.25 * c0.var(), rtol=1e-6)


def test_the_fused_kernel_runs_on_large_maps_only():
    def ops_of(layer, shape):
        fn = tf.function(lambda x: layer(x, training=True))
        return {op.type for op in fn.get_concrete_function(tf.TensorSpec(shape)).graph.get_operations()}

    assert "FusedBatchNormV3" in ops_of(FusedBatchNormalization(), (2, 128, 128, 3))
    assert "FusedBatchNormV3" not in ops_of(FusedBatchNormalization(), (2, 64, 64, 3))
    assert "FusedBatchNormV3" in ops_of(FusedBatchNormalization(), (2, None, None, 3))  # unknown: large


def test_inference_frozen_and_fallbacks_are_keras():
    x, fused, plain = _pair(momentum=0.9)
    np.testing.assert_allclose(fused(x, training=False), plain(x, training=False), atol=1e-5)
    fused.trainable = plain.trainable = False  # frozen: moving statistics, no update
    before = fused.moving_mean.numpy().copy()
    np.testing.assert_allclose(fused(x, training=True), plain(x, training=True), atol=1e-5)
    np.testing.assert_array_equal(fused.moving_mean.numpy(), before)
    flat = FusedBatchNormalization()  # rank 2: the parent's path
    np.testing.assert_allclose(flat(np.ones((4, 3), "float32") * [[1], [2], [3], [4]], training=True).numpy()[:, 0],
                               (np.arange(1, 5) - 2.5) / np.sqrt(1.25 + 1e-3), rtol=1e-4)


def test_config_and_keras_file_round_trip(tmp_path):
    x = np.random.default_rng(1).normal(size=(1, 4, 4, 3)).astype("float32")
    assert_config_round_trip(FusedBatchNormalization(momentum=0.9, epsilon=1e-5), x)
    inputs = keras.Input((4, 4, 3))
    model = keras.Model(inputs, FusedBatchNormalization(name="bn")(inputs))
    model.layers[-1].set_weights([np.full(3, v, "float32") for v in (2.0, 0.5, 0.1, 3.0)])
    assert_saved_model_identical(model, x, tmp_path)
