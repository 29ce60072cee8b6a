import keras
import numpy as np
import pytest
import tensorflow as tf

from alphanet_tf.layers import AttentionModule, AttentionPooling, AttentionUnpooling
from tests.helpers import assert_config_round_trip


def literal_attention(layer, features):
    """The paper's module written literally: four Conv2D(groups=2) branches, per-branch GroupNorm, two
    1x1 heads per branch, pixel shuffle; weights copied from the fused layer."""
    channels = features.shape[-1]
    hidden = layer.hidden_multiplier * channels
    per_group = hidden // 2
    kernels = [c.kernel.numpy() for c in layer.group_convs]  # (4, 4, C/2, 4 * per_group), order (branch, j)
    biases = [c.bias.numpy() for c in layer.group_convs]
    gamma, beta = layer.norm_gamma.numpy(), layer.norm_beta.numpy()  # order (group, branch, j)
    head = (layer.head_kernel.numpy() * layer._head_mask)
    head_bias = layer.head_bias.numpy()
    enc, dec = [], []
    for b in range(4):
        conv = keras.layers.Conv2D(hidden, 4, strides=2, padding="same", groups=2)
        conv.build(features.shape)
        kernel = np.concatenate([k[..., b * per_group:(b + 1) * per_group] for k in kernels], axis=-1)
        bias = np.concatenate([bb[b * per_group:(b + 1) * per_group] for bb in biases])
        conv.set_weights([kernel, bias])
        norm = keras.layers.GroupNormalization(groups=layer.norm_groups, epsilon=layer.epsilon)
        norm.build((None, None, None, hidden))
        idx = np.concatenate([g * 4 * per_group + b * per_group + np.arange(per_group) for g in range(2)])
        norm.set_weights([gamma[idx], beta[idx]])
        h = tf.nn.relu(norm(conv(features)))
        enc.append(tf.tensordot(h, head[idx, b], 1)[..., None] + head_bias[b])
        dec.append(tf.tensordot(h, head[idx, 4 + b], 1)[..., None] + head_bias[4 + b])
    enc_logits, dec_logits = tf.concat(enc, -1), tf.concat(dec, -1)
    encoder_map = tf.nn.depth_to_space(tf.nn.softmax(tf.sigmoid(enc_logits), -1), 2)
    return encoder_map, tf.nn.depth_to_space(tf.sigmoid(dec_logits), 2)


@pytest.mark.parametrize("channels,size", [(4, (6, 10)), (16, (8, 8)), (24, (4, 12))])
def test_fused_module_equals_literal_grouped_form(channels, size):
    features = tf.random.stateless_normal((2, *size, channels), seed=(1, channels))
    layer = AttentionModule(name="att")
    layer(features)
    # Non-trivial norm and head weights so every part of the mapping is exercised.
    layer.norm_gamma.assign(np.random.default_rng(0).uniform(0.5, 1.5, layer.norm_gamma.shape))
    layer.norm_beta.assign(np.random.default_rng(1).normal(0, 0.3, layer.norm_beta.shape))
    layer.head_bias.assign(np.random.default_rng(2).normal(0, 0.3, 8))
    fused = layer(features)
    literal = literal_attention(layer, features)
    for a, b in zip(fused, literal):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=2e-5)


def test_maps_shapes_and_normalisation_at_odd_sizes():
    features = tf.random.stateless_normal((3, 6, 14, 8), seed=(0, 0))
    encoder_map, decoder_map = AttentionModule()(features)
    assert encoder_map.shape == (3, 6, 14, 1) and decoder_map.shape == (3, 6, 14, 1)
    window_sums = tf.nn.avg_pool2d(encoder_map, 2, 2, "VALID") * 4
    np.testing.assert_allclose(window_sums.numpy(), 1.0, atol=1e-5)
    assert float(tf.reduce_min(decoder_map)) > 0 and float(tf.reduce_max(decoder_map)) < 1


def test_attention_module_config_round_trip():
    features = tf.random.stateless_normal((1, 4, 4, 8), seed=(0, 1))
    assert_config_round_trip(AttentionModule(hidden_multiplier=1, norm_groups=4), features)
    with pytest.raises(ValueError, match="norm groups"):
        AttentionModule(hidden_multiplier=1, norm_groups=4)(tf.zeros((1, 4, 4, 6)))
    with pytest.raises(ValueError, match="multiple of conv_groups"):
        AttentionModule(norm_groups=3)


def test_attention_pooling_hand_computed():
    features = np.array([[1.0, 2.0], [3.0, 4.0]], "float32").reshape(1, 2, 2, 1)
    attention = np.array([[0.1, 0.2], [0.3, 0.4]], "float32").reshape(1, 2, 2, 1)
    out = AttentionPooling()([features, attention])
    np.testing.assert_allclose(out.numpy().ravel(), [0.1 + 0.4 + 0.9 + 1.6], rtol=1e-6)


def test_attention_unpooling_hand_computed():
    features = np.full((1, 1, 1, 2), 5.0, "float32")
    attention = np.array([[0.1, 0.2], [0.3, 0.4]], "float32").reshape(1, 2, 2, 1)
    out = AttentionUnpooling()([features, attention]).numpy()
    np.testing.assert_allclose(out[0, :, :, 1], [[0.5, 1.0], [1.5, 2.0]], rtol=1e-6)
    plain = AttentionUnpooling(use_attention=False)([features, attention]).numpy()
    np.testing.assert_allclose(plain, 5.0)
    assert AttentionUnpooling.from_config(AttentionUnpooling(use_attention=False).get_config()).use_attention is False
