"""SavedModel for TF Serving: the whole pipeline (decode, cap, pad, model, crop, encode) in one graph.

Layout written by `export_savedmodel(model, out_dir)`::

    out_dir/savedmodel/alphanet/1/          the versioned SavedModel TF Serving watches
    out_dir/savedmodel/models.config        model_config_list for --model_config_file
    out_dir/savedmodel/batching_parameters.txt

Signatures:
    serving_default(image_bytes: string [N])  -> alpha_png_bytes: string [N] (8-bit grey PNG per image,
        at each image's own size), alpha: float32 [N, Hmax, Wmax, 1] (zero-padded to the largest image of
        the batch: with mixed sizes only the PNGs are exact per image).
    serving_image_tensor(image: uint8 [N, H, W, 3]) -> alpha, trimap, segmentation: float32 [N, H, W, 1].

The cap / pad geometry follows `alphanet_tf.preprocess` (same constants, same split of the padding, same
reflect mode), so a server answers what `alphanet matte` computes. Two documented differences: the cap
resizes with TensorFlow's area filter instead of OpenCV's, and a capped alpha is upsampled bilinearly
instead of with the guided filter (that one lives in numpy, outside the graph).
"""

from __future__ import annotations

from pathlib import Path

import keras
import tensorflow as tf

from alphanet_tf.preprocess import DEFAULT_MAX_SIDE, MULTIPLE

MODEL_NAME = "alphanet"
VERSION = 1
OUTPUT_NAMES = ("alpha", "trimap", "segmentation")
_PAD_STEPS = 6  # reflect pads of at most (side - 1) each: enough for any side >= 2 up to a multiple of 32

MODELS_CONFIG = """\
model_config_list {{
  config {{
    name: "{name}"
    base_path: "{base_path}"
    model_platform: "tensorflow"
    model_version_policy {{ latest {{ num_versions: 1 }} }}
  }}
}}
"""

# Batches requests of one model together; string inputs concatenate along the batch axis like any other.
BATCHING_PARAMETERS = """\
max_batch_size { value: 8 }
batch_timeout_micros { value: 5000 }
max_enqueued_batches { value: 64 }
num_batch_threads { value: 2 }
"""


def capped_size(h, w, max_side):
    """`preprocess.capped_size` in graph ops (round half to even, like Python's round)."""
    hf, wf = tf.cast(h, tf.float32), tf.cast(w, tf.float32)
    scale = tf.minimum(1.0, float(max_side) / tf.maximum(hf, wf))
    sh = tf.maximum(1, tf.cast(tf.round(hf * scale), tf.int32))
    sw = tf.maximum(1, tf.cast(tf.round(wf * scale), tf.int32))
    return sh, sw


def pad_reflect(x, top, bottom, left, right):
    """Reflect padding of an (N, H, W, C) batch, also when a pad exceeds the side (`tf.pad` alone refuses).

    Like OpenCV's BORDER_REFLECT_101 in `preprocess.pad_reflect`: repeated reflections, a few steps each
    at most `side - 1` wide.
    """
    for _ in range(_PAD_STEPS):
        h, w = tf.shape(x)[1], tf.shape(x)[2]
        t, b = tf.minimum(top, h - 1), tf.minimum(bottom, h - 1)
        l, r = tf.minimum(left, w - 1), tf.minimum(right, w - 1)
        x = tf.pad(x, [[0, 0], [t, b], [l, r], [0, 0]], mode="REFLECT")
        top, bottom, left, right = top - t, bottom - b, left - l, right - r
    return x


def run_padded(model, images, max_side=DEFAULT_MAX_SIDE):
    """float32 (N, H, W, 3) in [0, 255], any H, W -> model outputs at (N, H, W, 1), as the CLI computes them."""
    h, w = tf.shape(images)[1], tf.shape(images)[2]
    sh, sw = capped_size(h, w, max_side)
    capped = tf.logical_or(sh != h, sw != w)
    x = tf.cond(capped, lambda: tf.image.resize(images, (sh, sw), method="area"), lambda: images)
    ph, pw = (-sh) % MULTIPLE, (-sw) % MULTIPLE
    top, left = ph // 2, pw // 2
    x = pad_reflect(x, top, ph - top, left, pw - left)
    outputs = model(x, training=False)
    result = {}
    for name in OUTPUT_NAMES:
        y = outputs[name][:, top : top + sh, left : left + sw, :]
        method = "nearest" if name == "trimap" else "bilinear"
        result[name] = tf.cond(capped, lambda y=y, m=method: tf.image.resize(y, (h, w), method=m), lambda y=y: y)
    return result


def decode(image_bytes):
    """One encoded JPEG / PNG / GIF / BMP -> uint8 (H, W, 3). EXIF orientation is not applied."""
    image = tf.io.decode_image(image_bytes, channels=3, expand_animations=False, dtype=tf.uint8)
    image.set_shape([None, None, 3])
    return image


def encode_alpha_png(alpha):
    """float (H, W, 1) in [0, 1] -> 8-bit grey PNG bytes (rounded like `imageio.to_uint8`)."""
    return tf.image.encode_png(tf.cast(tf.round(tf.clip_by_value(alpha, 0.0, 1.0) * 255.0), tf.uint8))


def serve_bytes(model, image_bytes, max_side=DEFAULT_MAX_SIDE):
    """The REST/gRPC endpoint: each image runs alone at its own size, so mixed sizes batch safely."""
    sizes = tf.map_fn(lambda b: tf.shape(decode(b))[:2], image_bytes, fn_output_signature=tf.int32)
    max_h, max_w = tf.reduce_max(sizes[:, 0]), tf.reduce_max(sizes[:, 1])

    def one(b):
        image = decode(b)
        alpha = run_padded(model, tf.cast(image, tf.float32)[None], max_side)["alpha"][0]
        padded = tf.pad(alpha, [[0, max_h - tf.shape(alpha)[0]], [0, max_w - tf.shape(alpha)[1]], [0, 0]])
        return encode_alpha_png(alpha), padded

    png, alpha = tf.map_fn(one, image_bytes, fn_output_signature=(
        tf.TensorSpec([], tf.string), tf.TensorSpec([None, None, 1], tf.float32)))
    return {"alpha_png_bytes": png, "alpha": alpha}


def serve_image_tensor(model, image, max_side=DEFAULT_MAX_SIDE):
    """Decoded uint8 pixels in, float maps out: for clients that decode themselves (and Beam pipelines)."""
    return run_padded(model, tf.cast(image, tf.float32), max_side)


def build_archive(model, max_side=DEFAULT_MAX_SIDE):
    """A `keras.export.ExportArchive` with the two serving signatures.

    The archive finds the variables through the endpoints. `track(model)` would add the Keras variables a
    second time next to the traced ones (Keras 3.15 saves both lists: twice the size on disk).
    """
    archive = keras.export.ExportArchive()  # no track(model): it would store every weight twice
    archive.add_endpoint(
        name="serving_default",
        fn=lambda image_bytes: serve_bytes(model, image_bytes, max_side),
        input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")],
    )
    archive.add_endpoint(
        name="serving_image_tensor",
        fn=lambda image: serve_image_tensor(model, image, max_side),
        input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8, name="image")],
    )
    return archive


def write_serving_config(root: Path, base_path: str) -> None:
    """models.config and batching_parameters.txt beside the model folder, for tensorflow_model_server."""
    (root / "models.config").write_text(MODELS_CONFIG.format(name=MODEL_NAME, base_path=base_path))
    (root / "batching_parameters.txt").write_text(BATCHING_PARAMETERS)


def export_savedmodel(model, out_dir, max_side=DEFAULT_MAX_SIDE, base_path=f"/models/{MODEL_NAME}") -> Path:
    """Writes `out_dir/savedmodel/alphanet/1/` and the server config; returns the version folder.

    `base_path` is where the server sees `savedmodel/alphanet` (the container path of docs/export.md).
    """
    root = Path(out_dir) / "savedmodel"
    version_dir = root / MODEL_NAME / str(VERSION)
    version_dir.parent.mkdir(parents=True, exist_ok=True)
    build_archive(model, max_side).write_out(str(version_dir), verbose=False)
    write_serving_config(root, base_path)
    return version_dir


def latest_version(root) -> Path | None:
    """The highest numbered version folder under `root/savedmodel/alphanet` (what TF Serving loads)."""
    base = Path(root) / "savedmodel" / MODEL_NAME
    versions = sorted((int(p.name), p) for p in base.glob("*") if p.name.isdigit() and (p / "saved_model.pb").exists())
    return versions[-1][1] if versions else None


def check_savedmodel(version_dir, model, image_uint8, atol=1e-4) -> dict:
    """Loads the SavedModel as a server would and calls both signatures on one image; returns max diffs.

    Raises AssertionError when a signature is missing, the PNG does not decode to the image size, or the
    float alpha strays from the Keras model by more than `atol` (exported graph != model).
    """
    loaded = tf.saved_model.load(str(version_dir))
    missing = {"serving_default", "serving_image_tensor"} - set(loaded.signatures)
    assert not missing, f"SavedModel lacks signatures {sorted(missing)}"
    expected = run_padded(model, tf.constant(image_uint8[None], tf.float32))
    tensor_out = loaded.signatures["serving_image_tensor"](image=tf.constant(image_uint8[None]))
    png = tf.io.encode_png(tf.constant(image_uint8))
    bytes_out = loaded.signatures["serving_default"](image_bytes=tf.stack([png]))
    decoded = tf.io.decode_png(bytes_out["alpha_png_bytes"][0]).numpy()
    assert decoded.shape[:2] == image_uint8.shape[:2], f"alpha PNG {decoded.shape} for image {image_uint8.shape}"
    diffs = {name: float(tf.reduce_max(tf.abs(tensor_out[name] - expected[name]))) for name in OUTPUT_NAMES}
    diffs["alpha_bytes"] = float(tf.reduce_max(tf.abs(bytes_out["alpha"] - expected["alpha"])))
    bad = {k: v for k, v in diffs.items() if k != "trimap" and v > atol}
    assert not bad, f"SavedModel differs from the Keras model: {bad}"
    return diffs
