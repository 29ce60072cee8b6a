import cv2
import numpy as np
import pytest
import tensorflow as tf

from alphanet_tf.layers import ErosionDilationTrimap, QuantizeTrimap, TrimapFusion


def square_mask(size, top, left, side):
    mask = np.zeros((size, size), "float32")
    mask[top:top + side, left:left + side] = 1.0
    return mask


def test_band_of_a_square_hand_computed():
    # 40x40 square: bbox side = 39 (last - first index) -> r = 0.1 * 39 = 3.9 -> 3 px each side of the edge.
    mask = square_mask(64, 12, 12, 40)[None, :, :, None]
    trimap = ErosionDilationTrimap(rate=0.1)(mask).numpy()[0, :, :, 0]
    assert set(np.unique(trimap)) == {0.0, 0.5, 1.0}
    assert (trimap == 0.5).sum() == (46 ** 2 - 40 ** 2) + (40 ** 2 - 34 ** 2)
    assert (trimap == 1.0).sum() == 34 ** 2
    assert trimap[14, 32] == 0.5 and trimap[15, 32] == 1.0  # inside: distances 1..3 to the background
    assert trimap[9, 32] == 0.5 and trimap[8, 32] == 0.0  # outside: distances 1..3 to the mask
    assert trimap[12 + 40 + 2, 32] == 0.5 and trimap[12 + 40 + 3, 32] == 0.0


def test_matches_opencv_erode_dilate_on_random_blobs():
    rng = np.random.default_rng(0)
    mask = (cv2.GaussianBlur(rng.random((80, 96)).astype("float32"), (0, 0), 6) > 0.5).astype("float32")
    layer = ErosionDilationTrimap(rate=0.05)
    radius = int(np.floor(float(layer.band_radius(mask[None, :, :, None])[0, 0, 0, 0])))
    assert radius >= 1
    kernel = np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)
    m8 = mask.astype(np.uint8)
    dilated = cv2.dilate(m8, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    eroded = cv2.erode(m8, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=1)
    expected = eroded + 0.5 * (dilated - eroded)
    trimap = layer(mask[None, :, :, None]).numpy()[0, :, :, 0]
    np.testing.assert_array_equal(trimap, expected)


def test_clean_radius_fills_holes():
    """A 3 px hole in the subject: with clean_radius 2 (a 5 px closing) it vanishes and the trimap equals the
    whole square's; without, it becomes a patch of band. A 7 px hole and a speck outside are kept."""
    clean = square_mask(64, 12, 12, 40)
    noisy = clean.copy()
    noisy[30:33, 30:33] = 0.0  # narrow hole: filled
    layer = ErosionDilationTrimap(rate=0.1, clean_radius=2)
    expected = ErosionDilationTrimap(rate=0.1)(clean[None, :, :, None])
    np.testing.assert_array_equal(layer(noisy[None, :, :, None]), expected)
    raw = ErosionDilationTrimap(rate=0.1)(noisy[None, :, :, None]).numpy()[0, :, :, 0]
    assert raw[31, 31] == 0.5
    wide = clean.copy()
    wide[28:35, 28:35] = 0.0  # wider than the closing: kept
    wide[2:5, 56:59] = 1.0  # a speck outside the subject: kept (closing never removes foreground)
    cleaned = layer.clean(wide[None, :, :, None]).numpy()[0, :, :, 0]
    assert cleaned[31, 31] == 0.0 and cleaned[3, 57] == 1.0
    # a subject cut by the frame border is not eroded from the border
    edge = square_mask(32, 0, 0, 20)
    np.testing.assert_array_equal(layer.clean(edge[None, :, :, None]).numpy()[0, :, :, 0], edge)
    assert ErosionDilationTrimap.from_config(layer.get_config()).clean_radius == 2


def test_unsure_probabilities_are_unknown_wherever_they_are():
    """unsure 0.2: a 0.7 patch deep inside the subject and a 0.3 patch far outside become band; a 0.15 patch
    (background, confidently enough) and everything else are as without it."""
    probability = square_mask(64, 12, 12, 40) * 0.85 + 0.1  # subject 0.95, background 0.1
    probability[28:32, 28:32] = 0.7
    probability[2:5, 56:60] = 0.3
    probability[58:62, 2:6] = 0.15
    probability = probability[None, :, :, None]
    plain = ErosionDilationTrimap(rate=0.1)(probability).numpy()[0, :, :, 0]
    layer = ErosionDilationTrimap(rate=0.1, unsure=0.2)
    trimap = layer(probability).numpy()[0, :, :, 0]
    assert plain[28:32, 28:32].min() == 1.0 and plain[2:5, 56:60].max() == 0.0
    np.testing.assert_array_equal(trimap[28:32, 28:32], 0.5)
    np.testing.assert_array_equal(trimap[2:5, 56:60], 0.5)
    changed = trimap != plain
    assert changed.sum() == 16 + 12 and trimap[58:62, 2:6].max() == 0.0
    assert ErosionDilationTrimap.from_config(layer.get_config()).unsure == 0.2
    np.testing.assert_array_equal(ErosionDilationTrimap(rate=0.1, unsure=0.5)(probability).numpy()[0, :, :, 0], plain)


def test_band_width_is_per_image_in_the_batch():
    small, large = square_mask(128, 50, 50, 20), square_mask(128, 10, 10, 100)
    trimap = ErosionDilationTrimap(rate=0.1)(np.stack([small, large])[..., None]).numpy()
    # r = 0.1 * 19 = 1.9 -> 1 px each side for the small square; 0.1 * 99 = 9.9 -> 9 px for the large one.
    assert (trimap[0, :, 60, 0] == 0.5).sum() == 2 * 2
    assert (trimap[1, :, 60, 0] == 0.5).sum() == 2 * 2 * 9
    assert (trimap[0] == 0.5).sum() < (trimap[1] == 0.5).sum()


def test_empty_and_full_masks():
    layer = ErosionDilationTrimap()
    empty = layer(np.zeros((1, 32, 32, 1), "float32")).numpy()
    assert np.all(empty == 0.0) and not np.isnan(empty).any()
    full = layer(np.ones((1, 32, 32, 1), "float32")).numpy()
    np.testing.assert_array_equal(full, 1.0)  # the image border is not background


def test_no_gradient_flows_through_the_trimap():
    probability = tf.Variable(tf.random.uniform((1, 16, 16, 1), seed=0))
    with tf.GradientTape() as tape:
        trimap = ErosionDilationTrimap()(probability)
        loss = tf.reduce_sum(trimap * 3.0)
    gradient = tape.gradient(loss, probability)
    assert gradient is None or float(tf.reduce_max(tf.abs(gradient))) == 0.0


def test_config_round_trip():
    layer = ErosionDilationTrimap(rate=0.07, max_radius=9, min_radius=2.0, threshold=0.3)
    clone = ErosionDilationTrimap.from_config(layer.get_config())
    assert (clone.rate, clone.max_radius, clone.min_radius, clone.threshold) == (0.07, 9, 2.0, 0.3)
    mask = (np.random.default_rng(1).random((2, 24, 40, 1)) > 0.4).astype("float32")
    np.testing.assert_array_equal(layer(mask).numpy(), clone(mask).numpy())


def test_quantize_and_fusion():
    trimap = np.array([0.0, 0.2, 0.3, 0.5, 0.7, 0.8, 1.0], "float32").reshape(1, 1, 7, 1)
    np.testing.assert_array_equal(QuantizeTrimap()(trimap).numpy().ravel(), [0, 0, 0.5, 0.5, 0.5, 1, 1])
    raw = np.full((1, 1, 3, 1), 0.3, "float32")
    snapped = np.array([0.0, 0.5, 1.0], "float32").reshape(1, 1, 3, 1)
    np.testing.assert_allclose(TrimapFusion()([raw, snapped]).numpy().ravel(), [0.0, 0.3, 1.0])


@pytest.mark.parametrize("threshold", [0.5, 0.8])
def test_threshold_decides_the_mask(threshold):
    probability = np.full((1, 8, 8, 1), 0.6, "float32")
    trimap = ErosionDilationTrimap(threshold=threshold)(probability).numpy()
    assert np.all(trimap == (1.0 if threshold == 0.5 else 0.0))


@pytest.mark.parametrize("clean_radius", [0, 2])
def test_int8_tflite_keeps_the_band_width(clean_radius):
    """Post-training int8 used to collapse the radius to min_radius (a 1e9 sentinel in the bounding-box
    arithmetic); every intermediate now shares the image-side range, so int8 gives float's trimap when the
    calibration data covers the object sizes (with and without the mask clean-up)."""
    from ai_edge_litert.interpreter import Interpreter

    layer = ErosionDilationTrimap(rate=0.05, max_radius=8, clean_radius=clean_radius)
    function = tf.function(lambda p: layer(p), input_signature=[tf.TensorSpec((1, 96, 96, 1), tf.float32)])
    rng = np.random.default_rng(1)

    def blob(top, left, side):
        return (square_mask(96, top, left, side) * 0.9 + 0.05 * rng.random((96, 96)))[None, :, :, None]

    def representative():  # like real calibration data, it spans small to frame-filling objects
        for side in np.linspace(10, 94, 16).astype(int):
            top, left = rng.integers(0, 96 - side, size=2)
            yield [blob(int(top), int(left), int(side)).astype("float32")]

    converter = tf.lite.TFLiteConverter.from_concrete_functions([function.get_concrete_function()], function)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    interpreter = Interpreter(model_content=converter.convert())
    interpreter.allocate_tensors()
    (source,), (target,) = interpreter.get_input_details(), interpreter.get_output_details()
    for top, left, side in [(10, 10, 70), (30, 20, 40)]:
        probability = blob(top, left, side).astype("float32")
        expected = layer(probability).numpy()
        interpreter.set_tensor(source["index"], probability)
        interpreter.invoke()
        got = interpreter.get_tensor(target["index"])
        radius = int(0.05 * (side - 1))  # 3 and 1 px: (side + 2r)^2 - (side - 2r)^2 band pixels
        assert (expected == 0.5).sum() == 8 * radius * side
        assert np.mean(np.abs(got - expected) > 0.1) < 0.005


def test_trimap_convention_levels_and_thresholds():
    """`alphanet_tf.trimap`: below LOW background, above HIGH foreground, the thresholds themselves unknown;
    the graph's QuantizeTrimap / TrimapFusion and the numpy helpers agree on every value."""
    from alphanet_tf import trimap as T
    from alphanet_tf.layers.trimap import QuantizeTrimap, TrimapFusion

    v = np.array([[0.0, 0.2499, 0.25, 0.5, 0.75, 0.7501, 1.0]], np.float32)
    fg, unknown, bg = T.split(v)
    assert fg.tolist() == [[False] * 5 + [True] * 2] and bg.tolist() == [[True] * 2 + [False] * 5]
    assert unknown.tolist() == [[False, False, True, True, True, False, False]]
    assert T.quantize(v).tolist() == [[0.0, 0.0, 0.5, 0.5, 0.5, 1.0, 1.0]]
    assert T.to_uint8(v).tolist() == [[0, 0, 128, 128, 128, 255, 255]]
    graph = QuantizeTrimap()(v[None, ..., None]).numpy()[0, ..., 0]
    np.testing.assert_array_equal(graph, T.quantize(v))
    raw = np.full_like(v, 0.3)
    fused = TrimapFusion()([raw[None, ..., None], v[None, ..., None]]).numpy()[0, ..., 0]
    np.testing.assert_allclose(fused, np.where(fg, 1.0, np.where(unknown, 0.3, 0.0)), atol=1e-7)
    assert T.dim_unknown(np.array([127, 128, 129], np.uint8)).tolist() == [False, True, False]
    assert T.dim_unknown(np.array([0.5, 128 / 255, 0.49])).tolist() == [True, True, False]
