"""The int8-packed model file that carries the shipped given-trimap matting net."""

import keras
import numpy as np
import pytest

from alphanet_tf import runtimes
from alphanet_tf.models import MattingNet
from alphanet_tf.packed_weights import channel_axis, pack, quantize, unpack


def test_quantize_per_output_channel_by_hand():
    kernel = np.array([[1.0, -0.5], [0.254, 0.25], [-0.127, 0.0]], np.float32)  # Dense (in 3, out 2)
    values, scale = quantize(kernel)
    np.testing.assert_allclose(scale, [[1 / 127, 0.5 / 127]])
    np.testing.assert_array_equal(values, [[127, -127], [32, 64], [-16, 0]])  # 0.254 * 127 = 32.26 -> 32
    assert values.dtype == np.int8
    assert np.abs(values * scale - kernel).max() <= scale.max() / 2 + 1e-7
    assert channel_axis(np.zeros((3, 3, 8, 1))) == 2 and channel_axis(np.zeros((3, 3, 8, 16))) == 3
    assert np.array_equal(quantize(np.zeros((2, 2), np.float32))[0], np.zeros((2, 2), np.int8))


def test_pack_round_trip_of_a_matting_net(tmp_path):
    model = MattingNet(refine_filters=(8,), weights=None)
    rng = np.random.default_rng(0)
    model.set_weights([w + rng.normal(0, 0.05, w.shape).astype(np.float32) for w in model.get_weights()])
    path = pack(model, tmp_path / "net.npz")
    restored = unpack(path)
    assert [w.shape for w in restored.get_weights()] == [w.shape for w in model.get_weights()]
    for a, b in zip(model.get_weights(), restored.get_weights()):
        if a.ndim < 2:
            np.testing.assert_array_equal(a, b)  # biases and BatchNorm statistics exactly
        else:
            step = np.abs(a).max() / 127
            assert np.abs(a - b).max() <= step / 2 + 1e-7
    inputs = [rng.uniform(0, 255, (1, 64, 64, 3)).astype("float32"),
              rng.choice([0.0, 0.5, 1.0], (1, 64, 64, 1)).astype("float32")]
    difference = np.abs(np.asarray(model(inputs)) - np.asarray(restored(inputs)))
    assert 0 < difference.mean() < 0.02
    float_bytes = sum(w.nbytes for w in model.get_weights())
    assert path.stat().st_size < 0.35 * float_bytes
    assert not list(tmp_path.glob("*.tmp*"))


def test_unpack_refuses_other_files_naming_them(tmp_path):
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(ValueError, match="other.npz: not a packed model"):
        unpack(tmp_path / "other.npz")
    (tmp_path / "broken.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="broken.npz: cannot read"):
        unpack(tmp_path / "broken.npz")


def test_default_model_runs_given_trimaps_with_its_packed_trimap_net(tiny_model_path, tmp_path, monkeypatch):
    """A model whose manifest names a packed given-trimap net ('default' is one) mattes given trimaps with
    it, wherever its files lie; the automatic mode and files without a manifest are untouched."""
    from alphanet_tf import bundle
    from alphanet_tf.models import AlphaNetGivenTrimap

    alphanet = keras.saving.load_model(tiny_model_path, compile=False)
    trimap_net = MattingNet(weights=None)
    trimap_net.set_weights([w * 1.5 for w in alphanet.get_layer("matting_net").get_weights()])
    shipped = tmp_path / "shipped" / "alphanet_default.keras"
    shipped.parent.mkdir()
    shipped.write_bytes(tiny_model_path.read_bytes())
    packed = pack(trimap_net, shipped.parent / "alphanet_trimap.npz")
    bundle.write_manifest(shipped, packed)
    monkeypatch.setattr(bundle, "DEFAULT_MODEL", shipped)
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 255, (1, 64, 64, 3)).astype("float32")
    t = rng.choice([0.0, 0.5, 1.0], (1, 64, 64, 1)).astype("float32")
    other = tmp_path / "other.keras"
    other.write_bytes(tiny_model_path.read_bytes())
    default, plain = runtimes.load_runtime("default", threads=1), runtimes.load_runtime(other, threads=1)
    assert default.name == "keras:alphanet_default.keras+alphanet_trimap.npz" and plain.trimap_net is None
    copy = tmp_path / "copy"  # the three files copied elsewhere are still the same model
    copy.mkdir()
    for f in shipped.parent.iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    assert runtimes.load_runtime(copy / shipped.name, threads=1).trimap_net == copy / "alphanet_trimap.npz"
    assert bundle.resolve(copy / shipped.name).files == [copy / shipped.name, copy / "alphanet_trimap.npz"]
    expected = AlphaNetGivenTrimap(alphanet, unpack(packed))({"image": x, "trimap": t})["alpha"]
    np.testing.assert_allclose(default.predict(x, trimap=t)["alpha"], expected, atol=1e-5)
    assert np.abs(default.predict(x, trimap=t)["alpha"] - plain.predict(x, trimap=t)["alpha"]).max() > 1e-3
    np.testing.assert_allclose(default.predict(x)["alpha"], plain.predict(x)["alpha"], atol=1e-6)


def test_manifest_naming_a_missing_or_broken_file_is_a_one_line_error(tiny_model_path, tmp_path):
    from alphanet_tf import bundle
    model = tmp_path / "m.keras"
    model.write_bytes(tiny_model_path.read_bytes())
    bundle.manifest_path(model).write_text('{"trimap_net": "gone.npz"}')
    with pytest.raises(runtimes.ModelError, match=r"m.json: its given-trimap net .*gone.npz is missing"):
        runtimes.load_runtime(model)
    bundle.manifest_path(model).write_text("{not json")
    with pytest.raises(runtimes.ModelError, match="m.json: cannot read the model manifest"):
        bundle.resolve(model)
    with pytest.raises(ValueError, match="must lie beside"):
        bundle.write_manifest(model, tmp_path / "elsewhere" / "t.npz")


def test_the_shipped_manifest_names_the_shipped_trimap_net():
    from alphanet_tf import bundle
    resolved = bundle.resolve("default")
    assert resolved.path == bundle.DEFAULT_MODEL and resolved.format == "keras"
    assert resolved.trimap_net == bundle.ASSETS / "alphanet_trimap.npz" and resolved.trimap_net.is_file()
