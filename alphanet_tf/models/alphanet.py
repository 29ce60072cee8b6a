"""AlphaNet: image -> segmentation -> ED trimap -> matting -> final alpha, as one functional model.

The segmentation net runs on a `seg_size` square copy; the ED layer builds the trimap at that resolution
(the band is a fraction of the object's size, so this is resolution independent and cheap), and the trimap
is resized to the input and snapped back to {0, 0.5, 1} before the matting stage.
"""

import keras

from alphanet_tf.layers import ErosionDilationTrimap, QuantizeTrimap, ResizeLike, ResizeTo, TrimapFusion
from alphanet_tf.models.matting import MattingNet
from alphanet_tf.models.segmentation import SegmentationNet


def AlphaNet(segmentation_net=None, matting_net=None, seg_size=320, trimap_rate=0.04, max_radius=24,
             clean_radius=0, unsure=0.5, attention=True, weights="imagenet", name="alphanet"):
    """Builds the automatic matting model.

    Args:
        segmentation_net, matting_net: trained sub-models to compose; built fresh when None.
        seg_size: side of the square copy the segmentation net sees (multiple of 16).
        trimap_rate, max_radius: ED band radius as a fraction of the mask's mean bbox side, and its cap.
        clean_radius: the ED layer's closing of the thresholded mask at `seg_size` (fills holes up to 2k px).
        unsure: the ED layer also marks unknown where `unsure < probability < 1 - unsure` (0.5: off).
        attention: for a fresh matting net, attention (True) or the plain-pooling ablation.
        weights: ImageNet initialisation for fresh sub-models ("imagenet", npz path or None).

    Returns:
        image float32 (N, H, W, 3) RGB in [0, 255], H and W multiples of 32 ->
        {"alpha", "trimap", "segmentation"}, each (N, H, W, 1).
    """
    segmentation_net = segmentation_net or SegmentationNet(weights=weights)
    matting_net = matting_net or MattingNet(attention=attention, weights=weights)
    image = keras.Input((None, None, 3), name="image")
    small = ResizeTo((seg_size, seg_size), name="seg_resize")(image)
    probability_small = segmentation_net(small)
    trimap_small = ErosionDilationTrimap(rate=trimap_rate, max_radius=max_radius, clean_radius=clean_radius,
                                         unsure=unsure, name="ed_trimap")(probability_small)
    segmentation = ResizeLike(name="segmentation")([probability_small, image])
    trimap = QuantizeTrimap(name="trimap")(ResizeLike(name="trimap_up")([trimap_small, image]))
    raw_alpha = matting_net([image, trimap])
    alpha = TrimapFusion(name="alpha")([raw_alpha, trimap])
    return keras.Model(image, {"alpha": alpha, "trimap": trimap, "segmentation": segmentation}, name=name)


def AlphaNetGivenTrimap(alphanet, matting_net=None):
    """The matting stage of a built AlphaNet on RGB + a supplied trimap (paper Table II), sharing weights;
    or `matting_net` instead, a net trained for hand-drawn trimaps (the shipped model has one, MODEL_CARD.md).

    Returns a model `{"image", "trimap"} -> {"alpha", "trimap", "segmentation"}` (segmentation = trimap).
    """
    matting_net = matting_net or alphanet.get_layer("matting_net")
    image = keras.Input((None, None, 3), name="image")
    trimap = keras.Input((None, None, 1), name="trimap")
    raw_alpha = matting_net([image, trimap])
    alpha = TrimapFusion(name="alpha")([raw_alpha, trimap])
    return keras.Model({"image": image, "trimap": trimap},
                       {"alpha": alpha, "trimap": trimap, "segmentation": trimap}, name=f"{alphanet.name}_given_trimap")
