"""Small image layers: ImageNet normalisation and export-safe resizing.

Keras 3.15 `UpSampling2D(interpolation="bilinear")` breaks SavedModel export with unknown H, W, so resizing
goes through `tf.image.resize` with a size read at run time (see DESIGN.md section 4).
"""

import keras
import tensorflow as tf

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@keras.saving.register_keras_serializable(package="alphanet")
class ImageNormalization(keras.layers.Layer):
    """Maps RGB in [0, 255] to ImageNet-normalised values: (x / 255 - mean) / std."""

    def __init__(self, mean=IMAGENET_MEAN, std=IMAGENET_STD, **kwargs):
        super().__init__(**kwargs)
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)

    def call(self, x):
        scale = tf.constant([1.0 / (255.0 * s) for s in self.std], dtype=x.dtype)
        offset = tf.constant([-m / s for m, s in zip(self.mean, self.std)], dtype=x.dtype)
        return x * scale + offset

    def get_config(self):
        return {**super().get_config(), "mean": list(self.mean), "std": list(self.std)}


@keras.saving.register_keras_serializable(package="alphanet")
class ResizeTo(keras.layers.Layer):
    """Resizes to a fixed (height, width)."""

    def __init__(self, size, method="bilinear", **kwargs):
        super().__init__(**kwargs)
        self.size = (int(size[0]), int(size[1]))
        self.method = method

    def call(self, x):
        return tf.cast(tf.image.resize(x, self.size, method=self.method), x.dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self.size, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "size": list(self.size), "method": self.method}


@keras.saving.register_keras_serializable(package="alphanet")
class ResizeLike(keras.layers.Layer):
    """Resizes `inputs[0]` to the spatial size of `inputs[1]` (known only at run time)."""

    def __init__(self, method="bilinear", **kwargs):
        super().__init__(**kwargs)
        self.method = method

    def call(self, inputs):
        x, reference = inputs
        size = tf.shape(reference)[1:3]
        return tf.cast(tf.image.resize(x, size, method=self.method), x.dtype)

    def compute_output_shape(self, input_shapes):
        x_shape, ref_shape = input_shapes
        return (x_shape[0], ref_shape[1], ref_shape[2], x_shape[-1])

    def get_config(self):
        return {**super().get_config(), "method": self.method}
