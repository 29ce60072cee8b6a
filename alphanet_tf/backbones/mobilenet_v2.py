"""MobileNetV2 built block by block with the layer names of `keras.applications.MobileNetV2`.

Our own builder (not keras.applications) because the matting net replaces every stride-2 step by attention
pooling, the segmentation net dilates the last stage, and torch-trained weights need symmetric padding and
batch-norm epsilon 1e-5 to be exact. ImageNet weights come from `../shared/weights` (never a hub).
"""

import os
from pathlib import Path

import keras
import numpy as np

from alphanet_tf.layers.batch_norm import FusedBatchNormalization

BN_EPSILON = 1e-5  # torchvision's; keeps the ImageNet weights exact
WEIGHTS_FILE = "mobilenet_v2_imagenet_torchvision.npz"

# (expansion, output channels, stride) of blocks 0..16; block 0 is Keras' "expanded_conv".
BLOCKS = (
    [(1, 16, 1)]
    + [(6, 24, 2), (6, 24, 1)]
    + [(6, 32, 2)] + [(6, 32, 1)] * 2
    + [(6, 64, 2)] + [(6, 64, 1)] * 3
    + [(6, 96, 1)] * 3
    + [(6, 160, 2)] + [(6, 160, 1)] * 2
    + [(6, 320, 1)]
)


def default_imagenet_weights_path():
    """`ALPHANET_WEIGHTS` if set, else `shared/weights/` beside the repository."""
    if os.environ.get("ALPHANET_WEIGHTS"):
        return Path(os.environ["ALPHANET_WEIGHTS"])
    return Path(__file__).resolve().parents[2].parent / "shared" / "weights" / WEIGHTS_FILE


def _block_prefix(block_id):
    return "expanded_conv_" if block_id == 0 else f"block_{block_id}_"


def _conv(x, filters, kernel, stride, name, dilation=1):
    if stride == 2:  # torch pads stride-2 convolutions symmetrically
        x = keras.layers.ZeroPadding2D(kernel // 2, name=f"{name}_pad")(x)
        padding = "valid"
    else:
        padding = "same"
    return keras.layers.Conv2D(
        filters, kernel, strides=stride, padding=padding, dilation_rate=dilation, use_bias=False, name=name
    )(x)


def _depthwise(x, stride, name, dilation=1):
    if stride == 2:
        x = keras.layers.ZeroPadding2D(1, name=f"{name}_pad")(x)
        padding = "valid"
    else:
        padding = "same"
    return keras.layers.DepthwiseConv2D(
        3, strides=stride, padding=padding, dilation_rate=dilation, use_bias=False, name=name
    )(x)


def _bn(x, name):
    return FusedBatchNormalization(epsilon=BN_EPSILON, momentum=0.99, name=name)(x)


def mobilenet_v2_stem(x, stride=2):
    """Conv1 (3x3, 32) + BN + ReLU6."""
    x = _conv(x, 32, 3, stride, "Conv1")
    x = _bn(x, "bn_Conv1")
    return keras.layers.ReLU(6.0, name="Conv1_relu")(x)


def inverted_residual(x, block_id, stride=None, dilation=1):
    """MobileNetV2 block `block_id` (0..16); `stride` overrides the block's own (AlphaNet uses 1)."""
    expansion, filters, default_stride = BLOCKS[block_id]
    stride = default_stride if stride is None else stride
    prefix = _block_prefix(block_id)
    in_channels = x.shape[-1]
    inputs = x
    if expansion != 1:
        x = _conv(x, expansion * in_channels, 1, 1, f"{prefix}expand")
        x = _bn(x, f"{prefix}expand_BN")
        x = keras.layers.ReLU(6.0, name=f"{prefix}expand_relu")(x)
    x = _depthwise(x, stride, f"{prefix}depthwise", dilation)
    x = _bn(x, f"{prefix}depthwise_BN")
    x = keras.layers.ReLU(6.0, name=f"{prefix}depthwise_relu")(x)
    x = _conv(x, filters, 1, 1, f"{prefix}project")
    x = _bn(x, f"{prefix}project_BN")
    if stride == 1 and in_channels == filters:
        x = keras.layers.Add(name=f"{prefix}add")([inputs, x])
    return x


def MobileNetV2Classifier(weights="imagenet"):
    """The full ImageNet classifier (input: normalised RGB 224x224): used to check the weights load exactly."""
    image = keras.Input((224, 224, 3))
    x = mobilenet_v2_stem(image)
    for block_id in range(len(BLOCKS)):
        x = inverted_residual(x, block_id)
    x = _conv(x, 1280, 1, 1, "Conv_1")
    x = _bn(x, "Conv_1_bn")
    x = keras.layers.ReLU(6.0, name="out_relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(1000, activation="softmax", name="predictions")(x)
    model = keras.Model(image, x, name="mobilenet_v2")
    if weights:
        load_imagenet_weights(model, None if weights == "imagenet" else weights)
    return model


def _torch_to_keras_names():
    """Keras layer name -> torch parameter prefix, for every weighted layer."""
    names = {"Conv1": "features.0.0", "bn_Conv1": "features.0.1"}
    names.update({
        "expanded_conv_depthwise": "features.1.conv.0.0", "expanded_conv_depthwise_BN": "features.1.conv.0.1",
        "expanded_conv_project": "features.1.conv.1", "expanded_conv_project_BN": "features.1.conv.2",
    })
    for i in range(2, 18):
        p, t = f"block_{i - 1}_", f"features.{i}.conv."
        names.update({
            f"{p}expand": t + "0.0", f"{p}expand_BN": t + "0.1", f"{p}depthwise": t + "1.0",
            f"{p}depthwise_BN": t + "1.1", f"{p}project": t + "2", f"{p}project_BN": t + "3",
        })
    names.update({"Conv_1": "features.18.0", "Conv_1_bn": "features.18.1", "predictions": "classifier.1"})
    return names


def load_imagenet_weights(model, path=None):
    """Loads the torchvision ImageNet MobileNetV2 npz into every layer of `model` that has a matching name.

    A first convolution with more input channels than 3 (RGB + trimap) gets zeros for the extra channels,
    so the network starts as the ImageNet one. Returns the number of layers loaded.
    """
    path = Path(path) if path else default_imagenet_weights_path()
    if not path.is_file():
        raise FileNotFoundError(f"ImageNet MobileNetV2 weights not found: {path} (set ALPHANET_WEIGHTS)")
    arrays = np.load(path)
    layers = {layer.name: layer for layer in model.layers}
    loaded = 0
    for keras_name, torch_name in _torch_to_keras_names().items():
        layer = layers.get(keras_name)
        if layer is None:
            continue
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, var = (arrays[f"{torch_name}.{k}"] for k in ("weight", "bias", "running_mean", "running_var"))
            if abs(layer.epsilon - 1e-5) > 1e-12:  # rescale gamma to the layer's epsilon
                gamma = gamma * np.sqrt(var + layer.epsilon) / np.sqrt(var + 1e-5)
            layer.set_weights([gamma, beta, mean, var])
        elif isinstance(layer, keras.layers.Dense):
            layer.set_weights([arrays[f"{torch_name}.weight"].T, arrays[f"{torch_name}.bias"]])
        elif isinstance(layer, keras.layers.DepthwiseConv2D):
            layer.set_weights([arrays[f"{torch_name}.weight"].transpose(2, 3, 0, 1)])
        else:
            kernel = arrays[f"{torch_name}.weight"].transpose(2, 3, 1, 0)
            wanted = layer.kernel.shape
            if wanted[2] > kernel.shape[2]:  # extra input channels (e.g. the trimap) start at zero
                extra = np.zeros((*kernel.shape[:2], wanted[2] - kernel.shape[2], kernel.shape[3]), kernel.dtype)
                kernel = np.concatenate([kernel, extra], axis=2)
            layer.set_weights([kernel])
        loaded += 1
    return loaded


def is_backbone_layer(layer):
    """True for the layers that carry MobileNetV2 (ImageNet) weights."""
    return layer.name in _BACKBONE_NAMES


def freeze_backbone_batchnorm(model):
    """Puts the backbone's BatchNorm layers in inference mode (the paper's recipe; also ~faster on CPU).

    Returns the number of layers frozen. Their scale and offset stay frozen too, as in Keras' convention.
    """
    frozen = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization) and is_backbone_layer(layer):
            layer.trainable = False
            frozen += 1
    return frozen


_BACKBONE_NAMES = frozenset(_torch_to_keras_names())
