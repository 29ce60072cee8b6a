"""A model stored small: its Keras config and int8 per-channel weights in one compressed `.npz`.

The default model's given-trimap matting net (MODEL_CARD.md) ships beside `alphanet_default.keras`; in float32
it would add 10.6 MB to the 20.8 MB default, and the package keeps its models under 25 MB. Kernels (rank >= 2)
are stored as int8 with one float32 scale per output channel (symmetric, max |w| / 127); biases and BatchNorm
parameters stay float32. Loading rebuilds the model from its config and dequantises, so inference is the
trained graph in float32 with weights rounded to within half a step of their scale.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np

FORMAT = "alphanet-packed-weights/1"
INT8_MAX = 127


def channel_axis(kernel: np.ndarray) -> int:
    """The output-channel axis of a kernel: the last one, or the one before it when the last has size 1
    (depthwise kernels (kh, kw, channels, 1))."""
    return kernel.ndim - 1 if kernel.shape[-1] > 1 or kernel.ndim < 2 else kernel.ndim - 2


def quantize(kernel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(int8 values, float32 scales broadcastable to the kernel) with `values * scales ~ kernel`."""
    axis = channel_axis(kernel)
    reduce = tuple(i for i in range(kernel.ndim) if i != axis)
    scale = np.max(np.abs(kernel), axis=reduce, keepdims=True) / INT8_MAX
    scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
    values = np.clip(np.round(kernel / scale), -INT8_MAX, INT8_MAX).astype(np.int8)
    return values, scale


def pack(model, path) -> Path:
    """Writes `model` (a functional Keras model of registered layers) to `path` (.npz), atomically."""
    import keras

    arrays = {"format": np.array(FORMAT), "config": np.array(json.dumps(keras.saving.serialize_keras_object(model)))}
    for i, weight in enumerate(model.get_weights()):
        if weight.ndim >= 2:
            arrays[f"{i}.int8"], arrays[f"{i}.scale"] = quantize(weight)
        else:
            arrays[f"{i}.float32"] = weight.astype(np.float32)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)
    return path


def unpack(path):
    """The Keras model stored by `pack`, float32. Raises ValueError naming the file if it is not one."""
    import keras

    import alphanet_tf.layers  # noqa: F401  (registers the custom layers for deserialisation)

    path = Path(path)
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path}: cannot read the packed model (not an .npz file)")
    try:
        with np.load(path, allow_pickle=False) as z:
            if "format" not in z.files or str(z["format"]) != FORMAT:
                raise ValueError(f"{path}: not a packed model ({FORMAT})")
            model = keras.saving.deserialize_keras_object(json.loads(str(z["config"])))
            weights = []
            for i in range(len(model.weights)):
                if f"{i}.int8" in z.files:
                    weights.append(z[f"{i}.int8"].astype(np.float32) * z[f"{i}.scale"])
                else:
                    weights.append(z[f"{i}.float32"])
    except (OSError, KeyError, json.JSONDecodeError, zipfile.BadZipFile) as e:
        raise ValueError(f"{path}: cannot read the packed model ({e})") from None
    model.set_weights(weights)
    return model
