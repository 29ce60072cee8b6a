import numpy as np
import pytest

from alphanet_tf.losses import FocalDiceLoss, MattingLoss


def packed(alpha, fg, bg):
    return np.concatenate([alpha, fg, bg], axis=-1).astype("float32")


def test_matting_loss_hand_computed():
    # one 1x2 image; fg white, bg black: composite error = alpha error.
    alpha_true = np.array([[[[1.0], [0.0]]]])
    fg, bg = np.ones((1, 1, 2, 3)), np.zeros((1, 1, 2, 3))
    alpha_pred = np.array([[[[0.5], [0.0]]]], "float32")
    loss = float(MattingLoss(gamma=0.5)(packed(alpha_true, fg, bg), alpha_pred))
    # alpha L1 = (0.5 + 0) / 2 = 0.25; composite L1 = mean over 2 px x 3 ch of 0.5, 0 = 0.25
    np.testing.assert_allclose(loss, 0.5 * 0.25 + 0.5 * 0.25, rtol=1e-6)
    # fg == bg: the composite term vanishes, only gamma * alpha L1 is left.
    same = float(MattingLoss(gamma=0.5)(packed(alpha_true, fg, fg), alpha_pred))
    np.testing.assert_allclose(same, 0.125, rtol=1e-6)
    assert float(MattingLoss()(packed(alpha_true, fg, bg), alpha_true.astype("float32"))) == 0.0


def test_matting_loss_over_the_unknown_band():
    """region="unknown" averages over the trimap's band (eighth channel) only; known pixels do not count."""
    alpha_true = np.array([[[[1.0], [0.0], [0.5], [0.0]]]])
    fg, bg = np.ones((1, 1, 4, 3)), np.zeros((1, 1, 4, 3))
    trimap = np.array([[[[1.0], [0.0], [0.5], [0.5]]]])
    target = np.concatenate([packed(alpha_true, fg, bg), trimap], axis=-1).astype("float32")
    alpha_pred = np.array([[[[0.0], [1.0], [0.25], [0.25]]]], "float32")  # known pixels all wrong
    loss = float(MattingLoss(gamma=0.5, region="unknown")(target, alpha_pred))
    # band: errors 0.25 and 0.25 -> alpha L1 0.25, composite L1 0.25 (white over black)
    np.testing.assert_allclose(loss, 0.25, rtol=1e-6)
    whole = float(MattingLoss(gamma=0.5)(target, alpha_pred))
    np.testing.assert_allclose(whole, (1 + 1 + 0.25 + 0.25) / 4, rtol=1e-6)
    empty = np.concatenate([packed(alpha_true, fg, bg), np.ones_like(trimap)], axis=-1).astype("float32")
    assert float(MattingLoss(region="unknown")(empty, alpha_pred)) == 0.0  # no band: nothing to learn
    clone = MattingLoss.from_config(MattingLoss(gamma=0.3, region="unknown").get_config())
    assert (clone.gamma, clone.region) == (0.3, "unknown")
    with pytest.raises(ValueError, match="region"):
        MattingLoss(region="band")


def test_focal_dice_loss_properties():
    mask = np.zeros((2, 8, 8, 1), "float32")
    mask[:, 2:6, 2:6] = 1
    loss = FocalDiceLoss()
    perfect = float(loss(mask, mask))
    wrong = float(loss(mask, 1.0 - mask))
    half = float(loss(mask, np.full_like(mask, 0.5)))
    assert perfect < 1e-3 < half < wrong
    # dice of an all-wrong prediction is 1 - 1 / (16 + 48 + 1) per image; focal adds a positive term
    assert wrong > 1.0 - 1.0 / 65.0


def test_focal_alpha_weights_the_foreground_class():
    """Focal term of one pixel at p = 0.5: alpha_t * (1 - 0.5)^2 * log 2, alpha_t = alpha for foreground."""
    half = np.full((1, 1, 1, 1), 0.5, "float32")
    for alpha in (0.25, 0.5):
        loss = FocalDiceLoss(focal_alpha=alpha, dice_weight=0.0)
        np.testing.assert_allclose(float(loss(np.ones_like(half), half)), alpha * 0.25 * np.log(2), rtol=1e-5)
        np.testing.assert_allclose(float(loss(np.zeros_like(half), half)), (1 - alpha) * 0.25 * np.log(2), rtol=1e-5)


def test_segmentation_stage_reads_focal_alpha():
    from training.config import load_config
    from training.stages import build_segmentation
    _, loss, _ = build_segmentation(load_config("segmentation", overrides={"focal_alpha": 0.5}))
    assert loss.focal_alpha == 0.5
