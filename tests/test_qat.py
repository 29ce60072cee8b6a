"""Native Keras 3 QAT (export/qat.py): BatchNorm folding, int8-friendly layer twins, the fake-quant AlphaNet
against the float one, its int8 TFLite conversion (builtins only, zero float ops) against the QAT Keras
model, a resumable fine-tune, `alphanet qat` / `alphanet export --formats tflite-int8-qat` and the verify gate.

The tiny AlphaNet (seg_size 64, 64x64 inputs) has the ImageNet MobileNetV2 backbones and random heads whose
BatchNorm statistics are set from the sample images, like a trained net's (a fully random net is chaotic:
int8 noise decorrelates it completely after ~20 layers, which says nothing about a trained one).
"""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from alphanet_tf.backbones import default_imagenet_weights_path
from alphanet_tf.layers import ErosionDilationTrimap, QuantizeTrimap, TrimapFusion
from export import qat
from export.calibration import SAMPLES_DIR, folder_images

SIZE = 64
needs_weights = pytest.mark.skipif(not default_imagenet_weights_path().is_file(), reason="shared weights missing")


def sample_images(size=SIZE):
    return folder_images(SAMPLES_DIR, size)


def calibrated_tiny_alphanet(images, seg_size=SIZE, spread=4.0):
    """ImageNet backbones, random heads with BatchNorm statistics of `images`, segmentation logits centred
    on the threshold and spread to `spread` standard deviations (so the trimap has all three classes)."""
    from alphanet_tf.backbones import freeze_backbone_batchnorm
    from alphanet_tf.models import AlphaNet

    keras.utils.set_random_seed(0)
    model = AlphaNet(weights="imagenet", seg_size=seg_size)
    for name in ("segmentation_net", "matting_net"):
        freeze_backbone_batchnorm(model.get_layer(name))
    heads = [layer for layer in model._flatten_layers(include_self=False, recursive=True)
             if isinstance(layer, keras.layers.BatchNormalization) and layer.trainable]
    for bn in heads:  # one training-mode pass with momentum 0: moving statistics = these images' statistics
        bn.momentum, bn._saved_momentum = 0.0, bn.momentum
    x = np.stack(images).astype(np.float32)
    model(x, training=True)
    for bn in heads:
        bn.momentum = bn._saved_momentum
    seg = model.get_layer("segmentation_net")
    p = np.asarray(seg(x), np.float64).clip(1e-7, 1 - 1e-7)
    z = np.log(p / (1 - p))
    logits = seg.get_layer("logits")
    kernel, bias = logits.get_weights()
    factor = spread / max(z.std(), 1e-12)
    logits.set_weights([kernel * factor, (bias - np.median(z)) * factor])
    return model


def outputs(model, x):
    return {k: np.asarray(v) for k, v in model(x, training=False).items()}


def mean_abs(a, b):
    return float(np.mean(np.abs(np.asarray(a) - np.asarray(b))))


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """(float model, calibrated QAT model, images float32 (4, 64, 64, 3), folder with both saved)."""
    images = sample_images()
    x = np.stack(images).astype(np.float32)
    model = calibrated_tiny_alphanet(images)
    q = qat.quantize_model(model)
    assert qat.calibrate(q, [x[i:i + 1] for i in range(len(x))]) == len(x)
    tmp = tmp_path_factory.mktemp("qat")
    model.save(tmp / "float.keras")
    q.save(tmp / "qat.keras")
    return model, q, x, tmp


# --------------------------------------------------------------------------------------------- building blocks


@pytest.mark.parametrize("depthwise", [False, True])
def test_batchnorm_folds_exactly_and_weights_quantise_per_channel(depthwise):
    keras.utils.set_random_seed(1)
    inputs = keras.Input((16, 16, 8))
    conv = (keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False) if depthwise
            else keras.layers.Conv2D(12, 3, padding="same", use_bias=False))
    y = keras.layers.ReLU(6.0)(keras.layers.BatchNormalization(epsilon=1e-5)(conv(inputs)))
    model = keras.Model(inputs, y)
    bn = model.layers[2]
    n = bn.gamma.shape[0]
    rng = np.random.default_rng(0)
    bn.set_weights([rng.uniform(0.5, 2, n), rng.normal(0, 1, n), rng.normal(0, 0.5, n), rng.uniform(0.2, 3, n)])
    x = rng.normal(0, 1, (2, 16, 16, 8)).astype(np.float32)

    q = qat.quantize_model(model, quantize_inputs=False)
    (layer,) = [lay for lay in q.layers if isinstance(lay, qat.QuantConv)]
    assert not any(isinstance(lay, keras.layers.BatchNormalization) for lay in q.layers)
    assert layer.activation == "relu6" and layer.batchnorm
    kernel, bias = layer.folded()
    if depthwise:
        folded = tf.nn.depthwise_conv2d(x, kernel, (1, 1, 1, 1), "SAME") + bias
    else:
        folded = tf.nn.conv2d(x, kernel, 1, "SAME") + bias
    np.testing.assert_allclose(tf.nn.relu6(folded), model(x, training=False), atol=1e-5)

    # Per-channel symmetric 8-bit weights: every channel uses 255 levels of its own max |w|.
    wq = np.asarray(qat.fake_quant_weights(kernel, depthwise)).reshape(-1, n)
    w = np.asarray(kernel).reshape(-1, n)
    step = np.abs(w).max(axis=0) / 127
    assert np.all(np.abs(wq - w) <= step / 2 + 1e-6)
    np.testing.assert_allclose(np.abs(wq).max(axis=0), np.abs(w).max(axis=0), rtol=1e-5)

    qat.calibrate(q, [x])
    expected, got = np.asarray(model(x, training=False)), np.asarray(q(x, training=False))
    scale = (float(layer.output_quantizer.range_max.numpy()) - float(layer.output_quantizer.range_min.numpy())) / 255
    assert np.abs(got - expected).mean() < 0.5 * scale  # output grid + weight rounding: well below one step
    assert np.abs(got - expected).max() < 4 * scale


def test_activation_quantizer_ranges():
    q = qat.ActivationQuantizer(momentum=0.5)
    q(np.array([-1.0, 3.0], np.float32), training=True)  # the first batch sets the range
    assert (float(q.range_min.numpy()), float(q.range_max.numpy())) == (-1.0, 3.0)
    q(np.array([1.0, 5.0], np.float32), training=True)  # 0 stays inside; then the moving average
    assert (float(q.range_min.numpy()), float(q.range_max.numpy())) == (-0.5, 4.0)
    y = np.asarray(q(np.linspace(-2, 6, 101, dtype=np.float32)))  # inference: clipped to the stored range
    assert y.min() == pytest.approx(-0.5, abs=0.02) and y.max() == pytest.approx(4.0, abs=0.02)
    assert len(np.unique(y)) <= 256
    fixed = qat.ActivationQuantizer(fixed_range=qat.TRIMAP_RANGE)
    np.testing.assert_array_equal(np.asarray(fixed(np.array([0.0, 0.5, 1.0], np.float32))), [0.0, 0.5, 1.0])
    assert fixed.weights == [] and qat.pow2_range(24) == (0.0, 255 / 8)


def blob_probabilities(n=4, size=SIZE, seed=0):
    """Smooth blobby probability maps on the int8 sigmoid grid (1/256), like a segmentation output."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(size=(n, size // 8, size // 8, 1)).astype(np.float32)
    smooth = tf.image.resize(noise, (size, size), method="bicubic").numpy() * 3.0
    p = 1 / (1 + np.exp(-smooth))
    p[0] = 0.0  # an empty mask
    return np.round(p * 256).clip(0, 255).astype(np.float32) / 256


def test_trimap_twins_equal_the_float_layers():
    """The int8-friendly ED / snap / fusion layers compute what the float layers compute."""
    p = blob_probabilities()
    for rate, max_radius, clean_radius, unsure in ((0.04, 24, 0, 0.5), (0.1, 6, 0, 0.5), (0.04, 24, 3, 0.5),
                                                   (0.025, 24, 4, 0.15)):
        ed = ErosionDilationTrimap(rate=rate, max_radius=max_radius, clean_radius=clean_radius, unsure=unsure)
        twin = qat.QuantErosionDilationTrimap.from_config(ed.get_config())
        expected, got = np.asarray(ed(p)), np.asarray(twin(p))
        assert set(np.unique(got)) <= {0.0, 0.5, 1.0}
        assert np.mean(expected == 0.5) > 0.05  # there is a band to get right
        assert np.mean(got != expected) < 0.002, f"rate {rate}: {np.mean(got != expected):.4f} of pixels differ"
        np.testing.assert_array_equal(got[0], 0.0)  # empty mask -> all background

    t = np.random.default_rng(1).uniform(0, 1, (2, 8, 8, 1)).astype(np.float32)
    np.testing.assert_array_equal(qat.QuantQuantizeTrimap()(t), QuantizeTrimap()(t))
    trimap = np.asarray(QuantizeTrimap()(t))
    raw = np.round(np.random.default_rng(2).uniform(0, 255 / 256, t.shape) * 256).astype(np.float32) / 256
    np.testing.assert_allclose(qat.QuantTrimapFusion()([raw, trimap]), TrimapFusion()([raw, trimap]), atol=1 / 255)


# ------------------------------------------------------------------------------------------- the tiny AlphaNet


@needs_weights
def test_transform_keeps_the_graph(models):
    model, q, _, _ = models
    for name in ("segmentation_net", "matting_net"):
        f, t = model.get_layer(name), q.get_layer(name)
        convs = [lay for lay in f.layers if isinstance(lay, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D))]
        assert len([lay for lay in t.layers if isinstance(lay, qat.QuantConv)]) == len(convs)
        assert not any(isinstance(lay, keras.layers.BatchNormalization) for lay in t.layers)
    assert qat.is_qat_model(q) and not qat.is_qat_model(model)
    assert isinstance(q.get_layer("ed_trimap"), qat.QuantErosionDilationTrimap)
    assert isinstance(q.get_layer("matting_net").get_layer("attention_2"), qat.QuantAttentionModule)
    assert set(q.output) == {"alpha", "trimap", "segmentation"}


@needs_weights
def test_fake_quant_model_close_to_float_before_fine_tuning(models):
    model, q, x, _ = models
    expected, got = outputs(model, x), outputs(q, x)
    seg = mean_abs(got["segmentation"], expected["segmentation"])
    alpha = mean_abs(got["alpha"], expected["alpha"])
    print(f"float vs fake-quant: segmentation {seg:.4f}, alpha {alpha:.4f}")
    assert seg < 0.2 and alpha < 0.2
    # The matting net on the float trimap (the trimap decision apart): closer still.
    matting_f, matting_q = model.get_layer("matting_net"), q.get_layer("matting_net")
    raw_f = np.asarray(matting_f([x, expected["trimap"]]))
    raw_q = np.asarray(matting_q([x, expected["trimap"]]))
    assert mean_abs(raw_q, raw_f) < 0.1


@needs_weights
def test_qat_model_reloads_identically(models):
    _, q, x, tmp = models
    reloaded = qat.load_qat_model(tmp / "qat.keras")
    for name, value in outputs(q, x).items():
        np.testing.assert_array_equal(outputs(reloaded, x)[name], value)


@pytest.fixture(scope="module")
def exported_qat(models):
    """`alphanet export --formats tflite-int8-qat` on the saved QAT model (one conversion for the module)."""
    from export import cli

    _, _, _, tmp = models
    out = tmp / "dist"
    code = cli.main(["--model", str(tmp / "float.keras"), "--qat-model", str(tmp / "qat.keras"), "--out", str(out),
                     "--formats", "tflite-int8-qat", "--size", str(SIZE), "--no-verify"])
    assert code == 0
    return out


@needs_weights
def test_qat_tflite_is_int8_builtins_only_without_float_ops(exported_qat):
    from ai_edge_litert.interpreter import Interpreter

    from export.tflite import check_builtin_only, float_ops, read_embedded_metadata

    path = exported_qat / "alphanet_int8_qat.tflite"
    content = path.read_bytes()
    ops = check_builtin_only(content)
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "SELECT_V2", "RSQRT", "SOFTMAX", "MAX_POOL_2D"} <= set(ops)
    assert float_ops(content) == []
    assert ops["DEQUANTIZE"] == 3  # only the three float32 outputs
    detail = Interpreter(model_path=str(path)).get_input_details()[0]
    assert detail["dtype"] == np.uint8 and detail["quantization"] == (1.0, 0)
    metadata = read_embedded_metadata(path)
    assert metadata["format"] == "tflite-int8-qat" and metadata["float_ops"] == []
    assert json.loads(path.with_suffix(".json").read_text()) == metadata


@needs_weights
def test_qat_tflite_close_to_qat_keras(models, exported_qat):
    from ai_edge_litert.interpreter import Interpreter

    model, q, x, _ = models
    runner = Interpreter(model_path=str(exported_qat / "alphanet_int8_qat.tflite"), num_threads=1).get_signature_runner()
    qat_out, float_out = outputs(q, x), outputs(model, x)
    to_qat, to_float = [], []
    for i in range(len(x)):
        got = runner(image=x[i:i + 1].astype(np.uint8))
        to_qat.append({k: mean_abs(got[k], qat_out[k][i:i + 1]) for k in got})
        to_float.append({k: mean_abs(got[k], float_out[k][i:i + 1]) for k in got})
    seg_qat = np.mean([d["segmentation"] for d in to_qat])
    alpha_qat = np.mean([d["alpha"] for d in to_qat])
    print(f"tflite vs qat keras: segmentation {seg_qat:.4f} alpha {alpha_qat:.4f}; "
          f"vs float: alpha {np.mean([d['alpha'] for d in to_float]):.4f}")
    assert seg_qat < 0.12 and alpha_qat < 0.12


@needs_weights
def test_verify_gates_int8_qat_and_fails_loudly(models, exported_qat, capsys):
    """On this random-headed model the int8 matte is far from float: the gate must say so, exit 1."""
    from export import verify

    _, _, _, tmp = models
    code = verify.main(["--model", str(tmp / "float.keras"), "--artifacts", str(exported_qat), "--repeats", "1"])
    report = json.loads((exported_qat / "report.json").read_text())
    (row,) = [r for r in report["rows"] if r["artifact"] == "tflite-int8-qat"]
    assert row["gate_rel_l1"] == 0.05 and row["float_ops"] == 0
    assert row["passed"] == (row["rel_l1"] <= 0.05)
    assert code == (0 if row["passed"] else 1)
    if not row["passed"]:
        assert "FAILED tflite-int8-qat" in capsys.readouterr().err


@needs_weights
def test_verify_gates_int8_qat_against_its_qat_model(models, exported_qat):
    """With --qat-model and no ground truth, the int8 file is checked against the model it was converted
    from; its difference from float is still reported."""
    from ai_edge_litert.interpreter import Interpreter

    from export import verify

    _, q, x, tmp = models
    code = verify.main(["--model", str(tmp / "float.keras"), "--artifacts", str(exported_qat), "--repeats", "1",
                        "--threads", "1", "--qat-model", str(tmp / "qat.keras")])
    report = json.loads((exported_qat / "report.json").read_text())
    (row,) = [r for r in report["rows"] if r["artifact"] == "tflite-int8-qat"]
    assert "gate_rel_l1" not in row and row["gate_rel_l1_qat_model"] == 0.10 and "rel_l1" in row
    runner = Interpreter(model_path=str(exported_qat / "alphanet_int8_qat.tflite")).get_signature_runner()
    images = verify.load_images(None, SIZE)  # as verify feeds them: the samples at the file's size
    ref = [np.asarray(q(np.asarray(img, np.float32)[None])["alpha"]) for img in images]
    got = [runner(image=img[None])["alpha"] for img in images]
    expected = sum(np.abs(g - r).sum() for g, r in zip(got, ref)) / sum(r.sum() for r in ref)
    assert row["rel_l1_qat_model"] == pytest.approx(expected, rel=1e-3, abs=1e-4)
    assert code == (0 if row["rel_l1_qat_model"] <= 0.10 else 1) and row["passed"] == (code == 0)


def test_qat_model_gate_without_ground_truth():
    from export.verify import _summarise

    def row(l1_to_qat):
        per_image = [{"mean_abs": 0.0, "max_abs": 0.0, "sad": 0.0, "l1": 50.0, "float_l1": 100.0,
                      "l1_qat_model": l1_to_qat, "qat_model_l1": 100.0} for _ in range(2)]
        return _summarise("tflite-int8-qat", __file__, per_image, 1.0)

    passed, failed = row(9.0), row(11.0)
    assert passed["passed"] and passed["rel_l1"] == 0.5  # 50 % from float: reported, not gated
    assert passed["rel_l1_qat_model"] == pytest.approx(0.09)
    assert not failed["passed"] and "QAT model's alpha| is 11.00 %" in failed["failures"][0]


def test_sad_gates_with_ground_truth():
    from export.verify import _summarise

    def row(kind, sad, float_sad):
        per_image = [{"mean_abs": 0.0, "max_abs": 0.0, "sad": 0.0, "l1": 0.0, "float_l1": 1.0,
                      "sad_gt": sad, "float_sad_gt": float_sad}]
        return _summarise(kind, __file__, per_image, 1.0)

    assert row("tflite-int8-qat", 10.4, 10.0)["passed"] and not row("tflite-int8-qat", 10.6, 10.0)["passed"]
    assert row("tflite-fp16", 10.04, 10.0)["passed"] and not row("tflite-fp16", 10.06, 10.0)["passed"]
    assert row("tflite-int8-ptq", 50.0, 10.0)["passed"]  # reported only
    assert "above float's" in row("tflite-int8-qat", 11.0, 10.0)["failures"][0]


# --------------------------------------------------------------------------------------------------- training


def synthetic_end2end(x, batch=2):
    """(image, {alpha, segmentation}) batches like the end2end pipeline's, from the sample images."""
    alpha = (x.mean(axis=-1, keepdims=True) / 255.0).astype(np.float32)
    target = np.concatenate([alpha, x / 255.0, x[::-1] / 255.0], axis=-1).astype(np.float32)
    data = tf.data.Dataset.from_tensor_slices((x, {"alpha": target, "segmentation": (alpha > 0.5).astype(np.float32)}))
    return data.batch(batch).repeat()


def test_fine_tune_data_is_the_end2end_pipeline():
    """`alphanet qat` builds its data with the end2end stage's pipeline (it broke once when that stage
    grew config keys the QAT config did not list)."""
    from training.stages import datasets

    config = qat.load_config(None, {"size": 64, "batch_size": 2, "val_size": 2})
    image, targets = next(iter(datasets(qat._data_config(config))[1]))
    assert image.shape == (2, 64, 64, 3) and targets["alpha"].shape == (2, 64, 64, 7)
    assert targets["segmentation"].shape == (2, 64, 64, 1)  # segmentation_loss_weight 0.5 in the defaults


@needs_weights
def test_fine_tune_trains_saves_and_resumes(models, tmp_path):
    model, _, x, _ = models
    config = qat.load_config(None, {"epochs": 1, "steps_per_epoch": 2, "calibration_batches": 2,
                                    "backup_every_steps": 1, "learning_rate": 1e-4})
    train = synthetic_end2end(x)
    q, history = qat.fine_tune(model, config, tmp_path, train=train, val=None, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert (tmp_path / "qat.keras").is_file() and (tmp_path / "log.csv").is_file()
    assert not (tmp_path / "backup").exists()  # a finished run removes its resume state
    reloaded = qat.load_qat_model(tmp_path / "qat.keras")
    assert qat.is_qat_model(reloaded)
    np.testing.assert_allclose(outputs(reloaded, x)["alpha"], outputs(q, x)["alpha"], atol=1e-6)


def test_cli_usage_errors(tmp_path, capsys):
    from export import cli

    assert qat.main(["--model", str(tmp_path / "nope.keras"), "--out", str(tmp_path)]) == 2
    assert qat.main(["--model", "default", "--out", str(tmp_path), "--size", "250"]) == 2
    (tmp_path / "bad.yaml").write_text("learning_rat: 0.1\n")
    assert qat.main(["--config", str(tmp_path / "bad.yaml"), "--out", str(tmp_path)]) == 2
    assert cli.main(["--model", "default", "--out", str(tmp_path), "--formats", "tflite-int8-qat"]) == 2
    err = capsys.readouterr().err
    assert "not found" in err and "unknown keys" in err and "--qat-model" in err


def test_shipped_qat_config_is_complete():
    from training.config import CONFIG_DIR

    config = qat.load_config(CONFIG_DIR / "qat.yaml")
    assert config == {**qat.DEFAULTS, **config} and set(config) == set(qat.DEFAULTS)
    assert config["model"] == "default" and config["size"] % 32 == 0
    assert 100 <= config["epochs"] * config["steps_per_epoch"] <= 1000 and 4 <= config["batch_size"] <= 8
