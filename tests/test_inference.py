"""Matter and predict() on a tiny random AlphaNet, through the Keras, SavedModel and TFLite runtimes."""

import threading

import numpy as np
import pytest
from PIL import Image

from alphanet_tf import runtimes
from alphanet_tf.foreground import composite, estimate_foreground
from alphanet_tf.hole_filling import fill_foreground_holes
from alphanet_tf.inference import Matter, predict
from alphanet_tf.laplacian_refinement import refine_with_laplacian
from alphanet_tf.runtimes import ModelError, load_runtime


def save_tiny_alphanet(path):
    """A randomly initialised AlphaNet (seg_size 64), with its segmentation logits rescaled.

    Untrained, the logits are ~1e-7 around 0, so the 0.5 threshold (and the trimap) would flip with float
    noise between batch sizes and engines. Rescaled to a spread of +-4, the trimap is a stable, image
    dependent mix of {0, 0.5, 1}, like a trained model's.
    """
    from alphanet_tf.models.alphanet import AlphaNet

    model = AlphaNet(weights=None, seg_size=64)
    seg = model.get_layer("segmentation_net")
    logits = seg.get_layer("logits")
    p = np.asarray(seg(np.asarray([photo(64, 64)], np.float32)), np.float64)
    z = np.log(p / (1 - p))
    kernel, bias = logits.get_weights()
    scale = 4.0 / max(z.std(), 1e-12)
    logits.set_weights([kernel * scale, (bias - z.mean()) * scale])
    model.save(path)


@pytest.fixture(scope="session")
def matter(tiny_model_path):
    return Matter(tiny_model_path, threads=1)


def photo(h=64, w=96, seed=0):
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w, 3), np.uint8)
    img[:] = (40, 160, 70)
    img[h // 4 : 3 * h // 4, w // 3 : 2 * w // 3] = (210, 80, 60)
    return np.clip(img + rng.integers(0, 20, img.shape), 0, 255).astype(np.uint8)


def assert_close_mattes(a, b):
    np.testing.assert_allclose(a, b, atol=1e-4)


def test_predict_outputs_at_input_size(matter):
    out = matter.predict(photo(50, 70))  # not a multiple of 32: padded and cropped back
    assert set(out) == {"alpha", "trimap", "segmentation"}
    for value in out.values():
        assert value.shape == (50, 70) and value.dtype == np.float32
        assert value.min() >= 0 and value.max() <= 1
    assert set(np.unique(out["trimap"])) == {0.0, 0.5, 1.0}
    band = out["trimap"] == 0.5
    assert (out["alpha"][out["trimap"] == 1] == 1).all() and (out["alpha"][out["trimap"] == 0] == 0).all()
    assert out["alpha"][band].std() > 0  # the matting net's own values in the unknown band


def test_matter_accepts_numpy_pil_and_path(matter, tmp_path):
    image = photo()
    Image.fromarray(image).save(tmp_path / "p.png")
    from_numpy = matter.matte(image)
    np.testing.assert_array_equal(matter.matte(Image.fromarray(image)), from_numpy)
    np.testing.assert_array_equal(matter.matte(tmp_path / "p.png"), from_numpy)
    np.testing.assert_array_equal(matter.matte(str(tmp_path / "p.png")), from_numpy)
    np.testing.assert_allclose(matter.matte(image.astype(np.float32) / 255.0), from_numpy, atol=1e-6)


def test_matter_is_thread_safe(matter):
    images = [photo(seed=s) for s in range(3)]
    expected = [matter.matte(im) for im in images]
    results, errors = {}, []

    def work(k):
        try:
            for i, im in enumerate(images):
                results[(k, i)] = matter.matte(im)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for (k, i), alpha in results.items():
        np.testing.assert_array_equal(alpha, expected[i])


def test_given_trimap_mode_keeps_known_regions(matter):
    image = photo()
    trimap = np.zeros((64, 96), np.uint8)
    trimap[10:54, 20:76] = 128
    trimap[20:44, 35:60] = 255
    out = matter.predict(image, trimap=trimap)
    assert (out["alpha"][trimap == 0] == 0).all() and (out["alpha"][trimap == 255] == 1).all()
    expected_trimap = np.where(trimap == 0, 0.0, np.where(trimap == 255, 1.0, 0.5)).astype(np.float32)
    np.testing.assert_array_equal(out["trimap"], expected_trimap)


def test_given_trimap_refinement_moves_only_the_band(matter):
    image = photo()
    trimap = np.zeros((64, 96), np.uint8)
    trimap[10:54, 20:76] = 128
    trimap[20:44, 35:60] = 255
    raw = Matter(matter.runtime, refine=False).predict(image, trimap)["alpha"]
    refined = matter.predict(image, trimap)["alpha"]
    band = trimap == 128
    np.testing.assert_array_equal(refined[~band], raw[~band])
    assert np.abs(refined - raw)[band].max() > 1e-3
    levels = np.where(trimap == 0, 0.0, np.where(trimap == 255, 1.0, 0.5)).astype(np.float32)
    np.testing.assert_allclose(refined, refine_with_laplacian(image, levels, raw), atol=1e-6)


def blue_threshold_matter(refine=True):
    """A Matter on a one-layer Keras model with fixed weights: alpha = sigmoid(0.5 (110 - blue)), so
    pixels with little blue are foreground. Its mattes are known exactly, unlike a random net's."""
    import keras

    image = keras.Input((None, None, 3), name="image")
    conv = keras.layers.Conv2D(1, 1, activation="sigmoid", name="alpha")
    model = keras.Model(image, {"alpha": conv(image)})
    conv.set_weights([np.array([0.0, 0.0, -0.5], np.float32).reshape(1, 1, 3, 1), np.array([55.0], np.float32)])
    return Matter(model, threads=1, refine=refine)


def test_automatic_refinement_fills_the_mattes_foreground_coloured_holes():
    """A red subject on blue with a purplish-red patch (blue 130: alpha 0 to the model) inside it: the
    patch is a hole in the raw matte, and it looks like the subject, so the refined matte fills it."""
    from tests.test_hole_filling import RED, scene

    image, _, hole = scene((190, 40, 130))
    raw = blue_threshold_matter(refine=False).matte(image)
    refined = blue_threshold_matter().matte(image)
    subject = np.all(image == RED, axis=-1)
    assert raw[hole].max() < 0.01 and raw[subject].min() > 0.99
    assert np.all(refined[hole] == 1.0)
    np.testing.assert_array_equal(refined[~hole], raw[~hole])
    np.testing.assert_array_equal(refined, fill_foreground_holes(image, raw))
    np.testing.assert_array_equal(predict(blue_threshold_matter().runtime, image, refine=False), raw)


def test_cap_and_resize_back(matter):
    image = photo(150, 100)
    capped = Matter(matter.runtime, max_side=64)
    out = capped.predict(image)
    assert all(v.shape == (150, 100) for v in out.values())


def test_predict_batches_a_list_like_single_calls(matter):
    images = [photo(seed=1), photo(seed=2), photo(40, 40, seed=3)]
    # the nets' mattes (refine=False): hole filling thresholds alpha, so 1e-6 apart could differ by a pixel
    batched = predict(matter.runtime, images, refine=False)
    for image, alpha in zip(images, batched):
        assert alpha.shape == image.shape[:2]
        assert_close_mattes(alpha, predict(matter.runtime, image, refine=False))


def test_cutout_and_composite(matter):
    image = photo()
    alpha = matter.matte(image)
    cut = matter.cutout(image)
    assert cut.shape == (64, 96, 4) and cut.dtype == np.uint8
    np.testing.assert_array_equal(cut[..., 3], np.rint(alpha * 255).astype(np.uint8))
    card = Matter(matter.runtime, fg_estimation=False).composite(image, "#0000ff")
    assert card.shape == (64, 96, 3) and card.dtype == np.uint8
    expected = alpha[..., None] * image + (1 - alpha[..., None]) * np.array([0, 0, 255])
    assert np.abs(card - expected).max() <= 1


def test_foreground_estimation_removes_the_background_colour():
    """Hair-like mixed pixels over a green wall: the estimated colour loses the green."""
    h, w = 48, 64
    fg_true = np.array([200.0, 120.0, 80.0])
    green = np.array([20.0, 220.0, 30.0])
    alpha = np.tile(np.linspace(0, 1, w, dtype=np.float32), (h, 1))
    image = np.rint(alpha[..., None] * fg_true + (1 - alpha[..., None]) * green).astype(np.uint8)
    band = (alpha > 0.2) & (alpha < 0.8)
    for max_side in (1500, 24):  # full resolution, and the downscaled path for large images
        fg = estimate_foreground(image, alpha, max_side=max_side).astype(np.float32)
        err_fg = np.abs(fg[band] - fg_true).mean()
        err_photo = np.abs(image[band].astype(np.float32) - fg_true).mean()
        assert err_fg < 0.25 * err_photo, (max_side, err_fg, err_photo)
    over_red = composite(fg.astype(np.uint8), alpha, np.array([255, 0, 0]))
    assert over_red[band][:, 1].mean() < image[band][:, 1].mean()  # less green in the fringe


def test_default_model_missing_is_a_clear_error(monkeypatch, tmp_path):
    from alphanet_tf import bundle
    monkeypatch.setattr(bundle, "DEFAULT_MODEL", tmp_path / "alphanet_default.keras")
    with pytest.raises(ModelError, match="default model is missing"):
        Matter("default")


def test_bad_model_paths_are_one_line_errors(tmp_path):
    (tmp_path / "model.onnx").write_bytes(b"x")
    (tmp_path / "broken.keras").write_bytes(b"not a zip")
    (tmp_path / "folder").mkdir()
    for path, message in [
        (tmp_path / "missing.keras", "not found"),
        (tmp_path / "model.onnx", "unknown model format"),
        (tmp_path / "broken.keras", "cannot load"),
        (tmp_path / "folder", "not a SavedModel"),
    ]:
        with pytest.raises(ModelError, match=message) as err:
            load_runtime(path)
        assert "\n" not in str(err.value) and str(path) in str(err.value)


def test_savedmodel_runtime_matches_keras(matter, tmp_path):
    matter.runtime.model.export(tmp_path / "sm", format="tf_saved_model", verbose=False)
    runtime = load_runtime(tmp_path / "sm")
    assert runtime.name.startswith("savedmodel:")
    image = photo()
    assert_close_mattes(predict(runtime, image, refine=False), predict(matter.runtime, image, refine=False))


def test_tflite_runtime_fixed_size(matter, tmp_path):
    import keras
    import tensorflow as tf

    image_in = keras.Input((64, 64, 3), batch_size=1, name="image")
    fixed = keras.Model(image_in, matter.runtime.model(image_in))
    converter = tf.lite.TFLiteConverter.from_keras_model(fixed)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    (tmp_path / "tiny.tflite").write_bytes(converter.convert())

    runtime = load_runtime(tmp_path / "tiny.tflite", threads=1)
    assert runtime.name == "tflite:tiny.tflite" and runtime.fixed_size == (64, 64)
    square = photo(64, 64)
    lite, ref = Matter(runtime, refine=False).predict(square), Matter(matter.runtime, refine=False).predict(square)
    np.testing.assert_allclose(lite["segmentation"], ref["segmentation"], atol=1e-4)
    np.testing.assert_array_equal(lite["trimap"], ref["trimap"])
    assert_close_mattes(lite["alpha"], ref["alpha"])
    other = Matter(runtime).predict(photo(50, 90))  # letterboxed into 64x64 and mapped back
    assert all(v.shape == (50, 90) for v in other.values())


def test_tflite_integer_tensors_use_their_quantization():
    from alphanet_tf.runtimes import _dequantize, _quantize

    x = np.array([0.0, 127.6, 255.0], np.float32)
    np.testing.assert_array_equal(_quantize(x, {"dtype": np.uint8, "quantization": (1.0, 0)}), [0, 128, 255])
    int8 = {"dtype": np.int8, "quantization": (1.0, -128)}
    q = _quantize(x, int8)
    np.testing.assert_array_equal(q, [-128, 0, 127])
    np.testing.assert_array_equal(_dequantize(q, int8), [0, 128, 255])
    alpha8 = {"quantization": (1 / 255, 0)}
    np.testing.assert_allclose(_dequantize(np.array([0, 255], np.uint8), alpha8), [0, 1], atol=1e-6)
    assert _quantize(x, {"dtype": np.float32}).dtype == np.float32
