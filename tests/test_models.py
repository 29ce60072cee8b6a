import keras
import numpy as np
import pytest

from alphanet_tf.losses import FocalDiceLoss, MattingLoss
from alphanet_tf.models import AlphaNet, AlphaNetGivenTrimap, GivenTrimapMattingNet, MattingNet, SegmentationNet
from tests.helpers import assert_config_round_trip, assert_saved_model_identical, assert_training_reduces_loss

RNG = np.random.default_rng(0)
H, W = 64, 96  # not square, multiples of 32


def image(n=2, h=H, w=W):
    return RNG.uniform(0, 255, (n, h, w, 3)).astype("float32")


def trimap(n=2, h=H, w=W):
    return RNG.choice([0.0, 0.5, 1.0], (n, h, w, 1)).astype("float32")


def matting_target(n=2, h=H, w=W):
    return RNG.uniform(0, 1, (n, h, w, 7)).astype("float32")


@pytest.mark.parametrize("attention", [True, False])
def test_matting_net(attention, tmp_path):
    model = MattingNet(attention=attention, weights=None)
    inputs = [image(), trimap()]
    out = model(inputs)
    assert out.shape == (2, H, W, 1)
    assert float(np.min(out)) >= 0 and float(np.max(out)) <= 1
    assert model([image(1, 96, 160), trimap(1, 96, 160)]).shape == (1, 96, 160, 1)
    assert_config_round_trip(model, inputs)
    assert_saved_model_identical(model, inputs, tmp_path)
    assert_training_reduces_loss(model, inputs, matting_target(), MattingLoss())
    names = [layer.name for layer in model.layers]
    assert ("attention_0" in names) == attention and ("max_pool_0" in names) == (not attention)


def test_matting_net_refinement_head(tmp_path):
    model = MattingNet(refine_filters=(8, 4), weights=None)
    inputs = [image(), trimap()]
    assert model(inputs).shape == (2, H, W, 1)
    assert [layer.name for layer in model.layers if layer.name.startswith("refine_")][-1] == "refine_delta"
    assert_config_round_trip(model, inputs)
    assert_saved_model_identical(model, inputs, tmp_path)
    assert_training_reduces_loss(model, inputs, matting_target(), MattingLoss())


@pytest.mark.parametrize("backbone", ["mobilenet_v2", "resnet18"])
def test_segmentation_net(backbone, tmp_path):
    model = SegmentationNet(backbone=backbone, weights=None, aspp_filters=32, decoder_filters=32)
    x = image()
    assert model(x).shape == (2, H, W, 1)
    assert model(image(1, 80, 48)).shape == (1, 80, 48, 1)  # multiples of 16 suffice
    assert_config_round_trip(model, x)
    assert_saved_model_identical(model, x, tmp_path)
    mask = (RNG.random((2, H, W, 1)) > 0.5).astype("float32")
    assert_training_reduces_loss(model, x, mask, FocalDiceLoss())


def test_unknown_backbone_is_refused():
    with pytest.raises(ValueError, match="resnet50"):
        SegmentationNet(backbone="resnet50", weights=None)


@pytest.fixture(scope="module")
def alphanet():
    return AlphaNet(weights=None, seg_size=64)


def test_alphanet_outputs_and_fusion(alphanet):
    out = alphanet(image(2, 96, 160))
    assert set(out) == {"alpha", "trimap", "segmentation"}
    for value in out.values():
        assert value.shape == (2, 96, 160, 1)
    alpha, tri = np.asarray(out["alpha"]), np.asarray(out["trimap"])
    assert set(np.unique(tri)) <= {0.0, 0.5, 1.0}
    np.testing.assert_array_equal(alpha[tri == 1.0], 1.0)
    np.testing.assert_array_equal(alpha[tri == 0.0], 0.0)


def test_alphanet_round_trips(alphanet, tmp_path):
    x = image(1)
    assert_saved_model_identical(alphanet, x, tmp_path)
    clone = keras.Model.from_config(alphanet.get_config())
    clone.set_weights(alphanet.get_weights())
    for key, value in alphanet(x).items():
        np.testing.assert_allclose(np.asarray(value), np.asarray(clone(x)[key]), atol=1e-5)


def test_alphanet_end_to_end_training_step(alphanet):
    model = AlphaNet(weights=None, seg_size=64)
    assert_training_reduces_loss(model, image(), {"alpha": matting_target()}, {"alpha": MattingLoss()})


def test_given_trimap_mode_shares_weights(alphanet):
    given = AlphaNetGivenTrimap(alphanet)
    x, t = image(1), trimap(1)
    out = given({"image": x, "trimap": t})
    raw = alphanet.get_layer("matting_net")([x, t])
    unknown = t == 0.5
    np.testing.assert_allclose(np.asarray(out["alpha"])[unknown], np.asarray(raw)[unknown], atol=1e-6)
    np.testing.assert_array_equal(np.asarray(out["alpha"])[t == 1.0], 1.0)
    np.testing.assert_array_equal(np.asarray(out["trimap"]), t)


def test_given_trimap_matting_net_keeps_known_pixels_and_filters_the_band():
    from alphanet_tf.layers import GuidedFilter, TrimapFusion

    net = MattingNet(weights=None)
    given = GivenTrimapMattingNet(net, guided_radius=2, guided_epsilon=1e-4)
    x, t = image(1), trimap(1)
    fused = TrimapFusion()([net([x, t]), t])
    expected = np.clip(np.asarray(GuidedFilter(2, 1e-4)([x, fused])), 0, 1)
    np.testing.assert_allclose(given([x, t]), expected, atol=1e-5)
    plain = GivenTrimapMattingNet(net, guided_radius=0)
    np.testing.assert_allclose(plain([x, t]), fused, atol=1e-6)
    assert_config_round_trip(given, [x, t])
