from pathlib import Path

import cv2
import numpy as np
import pytest

from alphanet_tf.backbones import MobileNetV2Classifier, default_imagenet_weights_path, load_imagenet_weights
from alphanet_tf.layers import ImageNormalization
from alphanet_tf.models import MattingNet

KODAK = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "backgrounds" / "kodak"
needs_weights = pytest.mark.skipif(not default_imagenet_weights_path().is_file(), reason="shared weights missing")


def center_crop_224(path):
    image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    h, w = image.shape[:2]
    side = min(h, w)
    image = image[(h - side) // 2:(h - side) // 2 + side, (w - side) // 2:(w - side) // 2 + side]
    return cv2.resize(image, (224, 224), interpolation=cv2.INTER_AREA)[None].astype("float32")


@needs_weights
def test_imagenet_weights_classify_real_photos():
    model = MobileNetV2Classifier()
    normalise = ImageNormalization()
    macaw = model.predict(normalise(center_crop_224(KODAK / "kodim23.png")), verbose=0)[0]
    assert macaw.argmax() == 88 and macaw[88] > 0.9  # ImageNet class 88: macaw (Kodak's parrots)
    plane = model.predict(normalise(center_crop_224(KODAK / "kodim20.png")), verbose=0)[0]
    assert plane.argmax() == 895  # warplane


@needs_weights
def test_fourth_input_channel_starts_at_zero():
    model = MattingNet(weights="imagenet")
    kernel = model.get_layer("Conv1").kernel.numpy()
    reference = np.load(default_imagenet_weights_path())["features.0.0.weight"].transpose(2, 3, 1, 0)
    assert kernel.shape == (3, 3, 4, 32)
    np.testing.assert_array_equal(kernel[:, :, :3], reference)
    np.testing.assert_array_equal(kernel[:, :, 3], 0.0)


def test_missing_weights_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.npz"):
        load_imagenet_weights(MobileNetV2Classifier(weights=None), tmp_path / "nowhere.npz")
