"""`alphanet export` on a tiny random AlphaNet at 64x64: every artifact loads in its own runtime and
matches the Keras model; the TFLite graphs hold builtin ops only; bad arguments exit with code 2."""

import base64
import json

import numpy as np
import pytest

from alphanet_tf.preprocess import pad_reflect as pad_reflect_cv2
from export import cli
from export.calibration import SAMPLES_DIR

SIZE = 64
TFLITE = {"tflite-fp32": "alphanet_fp32.tflite", "tflite-fp16": "alphanet_fp16.tflite",
          "tflite-int8-ptq": "alphanet_int8_ptq.tflite"}


def tiny_alphanet():
    """A random AlphaNet (seg_size 64) whose segmentation logits are spread to +-4 around the threshold.

    Untrained, the logits sit ~1e-6 from 0, so float noise between engines flips the trimap; spread out,
    the trimap is a stable mix of {0, 0.5, 1} like a trained model's. The factor (~1e7) is split over the
    last two BatchNorm scales and the logits kernel (ReLU commutes with positive scales), so every weight
    stays far inside float16's range for the fp16 model.
    """
    import keras

    from alphanet_tf.models import AlphaNet

    keras.utils.set_random_seed(0)
    model = AlphaNet(weights=None, seg_size=64)
    seg = model.get_layer("segmentation_net")
    p = np.asarray(seg(np.stack(sample_images()).astype(np.float32)), np.float64)
    z = np.log(p / (1 - p))
    total = 4.0 / max(z.std(), 1e-12)
    step = total ** (1 / 3)
    for name in ("decoder_2_dw_bn", "decoder_2_pw_bn"):
        bn = seg.get_layer(name)
        gamma, *rest = bn.get_weights()
        bn.set_weights([gamma * step, *rest])
    logits = seg.get_layer("logits")
    kernel, bias = logits.get_weights()
    logits.set_weights([kernel * step, (bias - z.mean()) * total])
    return model


def sample_images(size=SIZE):
    from export.calibration import folder_images

    return folder_images(SAMPLES_DIR, size)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(keras model, output folder): the CLI run once for the whole module, verification skipped."""
    tmp = tmp_path_factory.mktemp("export")
    model = tiny_alphanet()
    model.save(tmp / "tiny.keras")
    out = tmp / "out"
    code = cli.main(["--model", str(tmp / "tiny.keras"), "--out", str(out), "--size", str(SIZE),
                     "--calibration-images", str(SAMPLES_DIR), "--no-verify"])
    assert code == 0
    return model, out


def keras_outputs(model, image_uint8):
    return {k: np.asarray(v) for k, v in model(image_uint8[None].astype(np.float32), training=False).items()}


def test_unknown_format_exits_2(tmp_path, capsys):
    assert cli.main(["--model", "default", "--out", str(tmp_path), "--formats", "savedmodel,tflite-fp8"]) == 2
    err = capsys.readouterr().err
    assert "unknown format 'tflite-fp8'" in err and "tflite-int8-ptq" in err


def test_bad_size_and_missing_model_exit_2(tmp_path, capsys):
    assert cli.main(["--model", "default", "--out", str(tmp_path), "--size", "500"]) == 2
    assert cli.main(["--model", str(tmp_path / "nope.keras"), "--out", str(tmp_path)]) == 2
    assert "not found" in capsys.readouterr().err


def test_graph_reflect_padding_equals_preprocess():
    """The SavedModel pads like `alphanet_tf.preprocess`, also when a pad is wider than the image."""
    import tensorflow as tf

    from export.savedmodel import pad_reflect

    x = np.random.default_rng(0).random((5, 9, 3)).astype(np.float32)
    pad = (13, 14, 11, 12)
    got = pad_reflect(tf.constant(x[None]), *pad).numpy()[0]
    np.testing.assert_array_equal(got, pad_reflect_cv2(x, pad))


def test_savedmodel_layout(exported):
    _, out = exported
    root = out / "savedmodel"
    assert (root / "alphanet" / "1" / "saved_model.pb").exists()
    assert 'base_path: "/models/alphanet"' in (root / "models.config").read_text()
    assert "max_batch_size" in (root / "batching_parameters.txt").read_text()


def test_serving_default_on_png_bytes(exported):
    """The REST path: b64 JSON decoded as the server decodes it, an odd size padded and cropped back."""
    import tensorflow as tf

    from alphanet_tf.imageio import encode_png
    from alphanet_tf.preprocess import prepare, restore

    model, out = exported
    image = sample_images(SIZE)[1][:50, :61]  # not a multiple of 32
    payload = json.dumps({"instances": [{"b64": base64.b64encode(encode_png(image)).decode()}]})
    image_bytes = [base64.b64decode(i["b64"]) for i in json.loads(payload)["instances"]]
    serving = tf.saved_model.load(str(out / "savedmodel" / "alphanet" / "1")).signatures["serving_default"]
    result = serving(image_bytes=tf.constant(image_bytes))
    png = tf.io.decode_png(result["alpha_png_bytes"][0]).numpy()
    assert png.shape == (50, 61, 1) and png.dtype == np.uint8
    x, geom = prepare(image)
    expected = restore(keras_outputs(model, x.astype(np.uint8))["alpha"][0], geom)
    np.testing.assert_allclose(result["alpha"].numpy()[0, ..., 0], expected, atol=1e-4)
    np.testing.assert_allclose(png[..., 0] / 255.0, expected, atol=1 / 255 + 1e-6)


def test_serving_default_mixed_sizes(exported):
    """A batch of differently sized images: one exact PNG each, `alpha` zero-padded to the largest."""
    import tensorflow as tf

    _, out = exported
    a, b = sample_images(SIZE)[:2]
    blobs = [tf.io.encode_jpeg(tf.constant(a)), tf.io.encode_png(tf.constant(b[:40, :50]))]
    serving = tf.saved_model.load(str(out / "savedmodel" / "alphanet" / "1")).signatures["serving_default"]
    result = serving(image_bytes=tf.stack(blobs))
    shapes = [tuple(tf.io.decode_png(p).shape) for p in result["alpha_png_bytes"]]
    assert shapes == [(64, 64, 1), (40, 50, 1)]
    assert result["alpha"].shape == (2, 64, 64, 1)


def test_serving_image_tensor_matches_keras(exported):
    import tensorflow as tf

    model, out = exported
    images = np.stack(sample_images(SIZE)[:2])
    serving = tf.saved_model.load(str(out / "savedmodel" / "alphanet" / "1")).signatures["serving_image_tensor"]
    result = serving(image=tf.constant(images))
    expected = {k: np.asarray(v) for k, v in model(images.astype(np.float32), training=False).items()}
    for name in ("alpha", "trimap", "segmentation"):
        np.testing.assert_allclose(result[name].numpy(), expected[name], atol=1e-4)


def test_exported_savedmodel_runs_in_the_savedmodel_runtime(exported):
    """`alphanet matte --model DIR/savedmodel/alphanet/1` picks the uint8 `serving_image_tensor` signature
    and must feed it uint8 (float32 raised a dtype error)."""
    from alphanet_tf.runtimes import SavedModelRuntime

    model, out = exported
    image = sample_images(SIZE)[0]
    result = SavedModelRuntime(out / "savedmodel" / "alphanet" / "1").predict(image[None].astype(np.float32))
    np.testing.assert_allclose(result["alpha"], keras_outputs(model, image)["alpha"], atol=1e-4)


@pytest.mark.parametrize("fmt", list(TFLITE))
def test_tflite_has_only_builtin_ops(exported, fmt):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
    from ai_edge_litert.schema_py_generated import BuiltinOperator

    _, out = exported
    interp = Interpreter(model_path=str(out / TFLITE[fmt]),
                         experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    names = {d["op_name"] for d in interp._get_ops_details()}
    builtins = {k for k in vars(BuiltinOperator) if k.isupper()} - {"CUSTOM", "DELEGATE"}
    assert {"CONV_2D", "DEPTHWISE_CONV_2D"} <= names
    assert names <= builtins, f"non-builtin ops: {names - builtins}"
    assert not any(n.startswith("Flex") for n in names)


# format -> (alpha mean abs diff, segmentation mean abs diff, trimap class disagreement), upper bounds
BOUNDS = {"tflite-fp32": (1e-5, 1e-5, 0.0), "tflite-fp16": (5e-3, 5e-3, 0.01), "tflite-int8-ptq": (0.1, 0.1, 0.15)}


def run_tflite(path, image):
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_path=str(path), num_threads=1).get_signature_runner()
    return runner(image=image[None].astype(runner.get_input_details()["image"]["dtype"]))


@pytest.mark.parametrize("fmt", ["tflite-fp32", "tflite-fp16", "tflite-int8-ptq"])
def test_tflite_matches_keras(exported, fmt):
    from export.verify import trimap_class

    model, out = exported
    alpha_bound, seg_bound, trimap_bound = BOUNDS[fmt]
    for image in sample_images(SIZE):
        got, expected = run_tflite(out / TFLITE[fmt], image), keras_outputs(model, image)
        assert np.mean(np.abs(got["segmentation"] - expected["segmentation"])) <= seg_bound
        assert np.mean(trimap_class(got["trimap"]) != trimap_class(expected["trimap"])) <= trimap_bound
        assert np.mean(np.abs(got["alpha"] - expected["alpha"])) <= alpha_bound
        if fmt == "tflite-fp32":
            np.testing.assert_allclose(got["alpha"], expected["alpha"], atol=1e-4)


def test_int8_takes_raw_uint8_pixels(exported):
    from ai_edge_litert.interpreter import Interpreter

    _, out = exported
    detail = Interpreter(model_path=str(out / TFLITE["tflite-int8-ptq"])).get_input_details()[0]
    assert detail["dtype"] == np.uint8
    assert detail["quantization"] == (1.0, 0)


def test_metadata_sidecar_and_embedded(exported):
    from export.tflite import read_embedded_metadata

    _, out = exported
    for fmt, name in TFLITE.items():
        sidecar = json.loads((out / name).with_suffix(".json").read_text())
        assert read_embedded_metadata(out / name) == sidecar
        assert sidecar["format"] == fmt and sidecar["size"] == [SIZE, SIZE]
        assert set(sidecar["tensors"]["outputs"]) == {"alpha", "trimap", "segmentation"}
        assert sidecar["tensors"]["inputs"]["image"]["shape"] == [1, SIZE, SIZE, 3]
    # int8 compute only: no op left reading or writing a float activation (CAST, SQUARE, ... used to be)
    assert json.loads((out / TFLITE["tflite-int8-ptq"]).with_suffix(".json").read_text())["float_ops"] == []


def test_verify_report(exported, capsys):
    from export import verify

    _, out = exported
    report = verify.run(str(out.parent / "tiny.keras"), out, repeats=1, threads=(1, 2))
    rows = {r["artifact"]: r for r in report["rows"]}
    assert set(rows) == {"keras (float reference)", "savedmodel", "savedmodel-bytes", *TFLITE}
    assert report["size"] == SIZE and report["passed"] and report["threads"] == [1, 2]
    assert rows["savedmodel"]["mean_abs"] < 1e-5 and rows["tflite-fp32"]["trimap_disagreement"] == 0.0
    assert 0.0 <= rows["tflite-int8-ptq"]["trimap_disagreement"] <= 1.0
    for row in rows.values():  # the 2-thread figures come from the child process
        assert set(row["latency_ms_by_threads"]) == {"1", "2"} and min(row["latency_ms_by_threads"].values()) > 0
    assert json.loads((out / "report.json").read_text())["rows"][0]["latency_ms"] > 0
    markdown = (out / "report.md").read_text()
    assert "| tflite-int8-ptq |" in markdown and "ms @2 thr" in markdown
    assert "| tflite-int8-ptq |" in capsys.readouterr().out


def test_verify_scores_every_artifact_against_ground_truth(exported, tmp_path):
    """With --alphas: SAD / MSE / Grad / Conn of each artifact, the float reference's from the same scorer."""
    import cv2

    from alphanet_tf.imageio import list_images
    from alphanet_tf.metrics import matting_metrics
    from export import verify
    from export.calibration import SAMPLES_DIR

    _, out = exported
    images = verify.load_images(None, SIZE)
    (tmp_path / "alphas").mkdir()
    for path, image in zip(list_images(SAMPLES_DIR, recursive=True), images):  # stand-in truth: brightness
        cv2.imwrite(str(tmp_path / "alphas" / f"{path.stem}.png"), image.mean(axis=-1).astype(np.uint8))
    report = verify.run(str(out.parent / "tiny.keras"), out, str(SAMPLES_DIR), repeats=1,
                        alphas_dir=str(tmp_path / "alphas"))
    rows = {r["artifact"]: r for r in report["rows"]}
    gts = verify.load_alphas(SAMPLES_DIR, tmp_path / "alphas", SIZE)
    for kind in ("savedmodel", "tflite-fp32"):
        run = verify.savedmodel_runners(out / "savedmodel" / "alphanet" / "1")["savedmodel"] if kind == "savedmodel" \
            else verify.tflite_runner(out / TFLITE[kind])
        expected = [matting_metrics(run(img)["alpha"], gt, region="whole") for img, gt in zip(images, gts)]
        for key in ("sad", "mse", "grad", "conn"):
            assert rows[kind][f"{key}_gt"] == pytest.approx(np.mean([e[key] for e in expected]), rel=1e-6)
    reference = rows["keras (float reference)"]
    assert reference["sad_gt"] == pytest.approx(rows["savedmodel"]["sad_gt"], rel=1e-4)
    assert "| SAD | MSE | Grad | Conn |" in (out / "report.md").read_text()
