"""Shared checks every layer and model passes (keras-hub style): shapes, a training step, config and
`.keras` round trips."""

import keras
import numpy as np


def assert_config_round_trip(layer_or_model, inputs):
    """from_config(get_config()) with the same weights gives the same outputs."""
    expected = layer_or_model(inputs)  # builds it
    clone = layer_or_model.__class__.from_config(layer_or_model.get_config())
    clone(inputs)
    clone.set_weights(layer_or_model.get_weights())
    _assert_same(expected, clone(inputs))


def assert_saved_model_identical(model, inputs, tmp_path):
    """`.keras` save and reload gives identical outputs."""
    path = tmp_path / f"{model.name}.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path, compile=False)
    _assert_same(model(inputs, training=False), reloaded(inputs, training=False))


def assert_training_reduces_loss(model, inputs, targets, loss, steps=10, learning_rate=1e-3):
    """Adam steps on one tiny batch lower the training loss (the model can learn through every layer)."""
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss, jit_compile=False)
    losses = []
    for _ in range(steps):
        result = model.train_on_batch(inputs, targets)
        losses.append(float(result[0] if isinstance(result, (list, tuple)) else result))
    assert min(losses[-3:]) < losses[0], f"loss did not decrease: {losses}"


def _assert_same(a, b, atol=1e-5):
    flat_a, flat_b = keras.tree.flatten(a), keras.tree.flatten(b)
    assert len(flat_a) == len(flat_b)
    for x, y in zip(flat_a, flat_b):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), atol=atol)


def shared_data_root():
    """The shared data folder (``../shared/data`` or ``$ALPHANET_DATA``), or None when it is absent."""
    from training.data.paths import DataNotFoundError, data_root

    try:
        return data_root()
    except DataNotFoundError:  # pragma: no cover - CI always has ../shared/data
        return None
