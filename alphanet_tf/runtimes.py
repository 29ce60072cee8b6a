"""Keras, SavedModel and TFLite models behind one interface, so callers never care which file they got.

    runtime = load_runtime("model.tflite", threads=2)
    out = runtime.predict(x)              # x float32 (N, H, W, 3) RGB in [0, 255], H, W multiples of 32
    out["alpha"]                          # numpy float32 (N, H, W, 1); also "trimap", "segmentation"
    runtime.predict(x, trimap=t)          # given-trimap mode, t (N, H, W, 1) in {0, 0.5, 1}

Inputs are prepared by `alphanet_tf.preprocess` (one copy for every runtime); a runtime only adapts them
to its engine (fixed input sizes, integer input tensors). TensorFlow and LiteRT are imported lazily, so a
TFLite-only caller never loads TensorFlow.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from alphanet_tf.bundle import ModelError, resolve
from alphanet_tf.preprocess import pad_reflect

__all__ = ["ModelError", "Runtime", "KerasRuntime", "SavedModelRuntime", "TFLiteRuntime", "load_runtime"]

OUTPUT_NAMES = ("alpha", "trimap", "segmentation")


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}".rstrip(": ")


def _as_output_dict(outputs) -> dict:
    """Normalises what an engine returns to {"alpha", "trimap"?, "segmentation"?} numpy arrays."""
    if isinstance(outputs, dict):
        out = {k: np.asarray(v) for k, v in outputs.items()}
        if "alpha" not in out:  # unnamed outputs ("output_0", ...): the first one is the alpha
            first = sorted(out)[0]
            out = {"alpha": out[first], **{k: v for k, v in out.items() if k != first}}
        return out
    if isinstance(outputs, (list, tuple)):
        return {name: np.asarray(v) for name, v in zip(OUTPUT_NAMES, outputs)}
    return {"alpha": np.asarray(outputs)}


class Runtime:
    """Common interface. `fixed_size` is (h, w) when the engine only takes one input size, else None."""

    name = "runtime"
    fixed_size: tuple[int, int] | None = None

    def predict(self, image: np.ndarray, trimap: np.ndarray | None = None) -> dict:
        raise NotImplementedError

    def __repr__(self):
        return f"<{type(self).__name__} {self.name}>"


def _set_tf_threads(threads):
    """TensorFlow takes thread counts only before its first op; later calls are a no-op, not an error."""
    if not threads:
        return
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(int(threads))
        tf.config.threading.set_inter_op_parallelism_threads(min(2, int(threads)))
    except RuntimeError:
        pass


class KerasRuntime(Runtime):
    """A Keras model (.keras file or an in-memory model). The given-trimap model is built on first use, from
    the model's own matting net or `trimap_net` (a packed matting net file, `alphanet_tf.packed_weights`)."""

    def __init__(self, model, threads=None, name=None, trimap_net=None):
        import keras

        import alphanet_tf.layers  # noqa: F401  (registers the custom layers for deserialisation)
        import alphanet_tf.models  # noqa: F401

        _set_tf_threads(threads)
        if isinstance(model, keras.Model):
            self.model = model
            self.name = name or f"keras:{model.name}"
        else:
            try:
                self.model = keras.saving.load_model(str(model), compile=False)
            except Exception as e:
                raise ModelError(f"{model}: cannot load the Keras model ({_first_line(e)})") from None
            self.name = name or f"keras:{Path(model).name}"
        self.trimap_net = trimap_net
        if trimap_net is not None and name is None:
            self.name += f"+{Path(trimap_net).name}"
        self._needs_trimap = len(self.model.inputs) > 1
        self._auto = None if self._needs_trimap else self._compile(self.model, with_trimap=False)
        self._given = self._compile(self.model, with_trimap=True) if self._needs_trimap else None

    @staticmethod
    def _compile(model, with_trimap):
        """One graph for every input size: eager calls are ~10x slower, and a shape-free signature
        never retraces."""
        import tensorflow as tf

        image = tf.TensorSpec((None, None, None, 3), tf.float32)
        if not with_trimap:
            return tf.function(lambda x: model(x, training=False), input_signature=[image], jit_compile=False)
        trimap = tf.TensorSpec((None, None, None, 1), tf.float32)
        as_dict = isinstance(getattr(model, "_inputs_struct", None), dict)

        def call(x, t):
            return model({"image": x, "trimap": t} if as_dict else [x, t], training=False)

        return tf.function(call, input_signature=[image, trimap], jit_compile=False)

    def predict(self, image, trimap=None):
        image = np.asarray(image, np.float32)
        if trimap is None:
            if self._auto is None:
                raise ModelError(f"{self.name} needs a trimap (it has no segmentation stage)")
            return _as_output_dict(self._auto(image))
        if self._given is None:
            from alphanet_tf.models.alphanet import AlphaNetGivenTrimap
            from alphanet_tf.packed_weights import unpack

            try:
                matting_net = None if self.trimap_net is None else unpack(self.trimap_net)
                self._given = self._compile(AlphaNetGivenTrimap(self.model, matting_net), with_trimap=True)
            except Exception as e:
                raise ModelError(f"{self.name}: cannot run with a given trimap ({_first_line(e)})") from None
        return _as_output_dict(self._given(image, np.asarray(trimap, np.float32)))


def _find_inputs(spec: dict):
    """(image name, trimap name or None) among a signature's float inputs, by channel count and name."""
    image = trimap = None
    for key, shape, dtype in spec:
        if len(shape) != 4 or dtype in ("string", np.bytes_):
            continue
        if shape[-1] == 3 and image is None:
            image = key
        elif shape[-1] == 1 or "trimap" in key:
            trimap = key
    return image, trimap


class SavedModelRuntime(Runtime):
    """A SavedModel folder: `serving_image_tensor` if exported, else the float endpoint of `model.export()`.

    Signatures taking encoded bytes (`tf.string`, for TF Serving) are skipped: this runtime feeds tensors.
    """

    PREFERRED = ("serving_image_tensor", "serving_default", "serve")

    def __init__(self, path, threads=None):
        import tensorflow as tf

        _set_tf_threads(threads)
        try:
            self._obj = tf.saved_model.load(str(path))
        except Exception as e:
            raise ModelError(f"{path}: cannot load the SavedModel ({_first_line(e)})") from None
        self.name = f"savedmodel:{Path(path).name}"
        sigs = dict(self._obj.signatures)
        order = [k for k in self.PREFERRED if k in sigs] + sorted(k for k in sigs if k not in self.PREFERRED)
        self._auto = self._given = None
        for key in order:
            fn = sigs[key]
            spec = [(k, tuple(v.shape), v.dtype.name) for k, v in fn.structured_input_signature[1].items()]
            image, trimap = _find_inputs(spec)
            if image is None or len(spec) != (1 if trimap is None else 2):
                continue
            dtypes = {k: dtype for k, _, dtype in spec}
            if trimap is None and self._auto is None:
                self._auto = (fn, image, None, dtypes)
            elif trimap is not None and self._given is None:
                self._given = (fn, image, trimap, dtypes)
        if self._auto is None and self._given is None:
            raise ModelError(f"{path}: no signature takes a float image tensor (found {', '.join(sigs) or 'none'})")

    def predict(self, image, trimap=None):
        import tensorflow as tf

        entry = self._auto if trimap is None else self._given
        if entry is None:
            need = "a trimap input" if trimap is not None else "an image-only signature (it needs a trimap)"
            raise ModelError(f"{self.name} has no signature with {need}")
        fn, image_key, trimap_key, dtypes = entry
        kwargs = {image_key: tf.constant(_as_dtype(image, dtypes[image_key]))}
        if trimap_key is not None:
            kwargs[trimap_key] = tf.constant(_as_dtype(trimap, dtypes[trimap_key]))
        return _as_output_dict({k: v.numpy() for k, v in fn(**kwargs).items()})


def _as_dtype(x, dtype: str) -> np.ndarray:
    """Model-space values (images 0..255) as a signature's input dtype: uint8 inputs are rounded and
    clipped, not wrapped around."""
    x = np.asarray(x, np.float32)
    if dtype == "uint8":
        return np.clip(np.rint(x), 0, 255).astype(np.uint8)
    return x.astype(dtype)


def _quantize(x: np.ndarray, detail: dict) -> np.ndarray:
    """Float model-space values -> the tensor's dtype, using its quantization parameters if any."""
    dtype = detail["dtype"]
    if np.issubdtype(dtype, np.floating):
        return x.astype(dtype)
    scale, zero = detail.get("quantization", (0.0, 0))
    info = np.iinfo(dtype)
    q = x / scale + zero if scale else x
    return np.clip(np.rint(q), info.min, info.max).astype(dtype)


def _dequantize(q: np.ndarray, detail: dict) -> np.ndarray:
    if np.issubdtype(q.dtype, np.floating):
        return q.astype(np.float32)
    scale, zero = detail.get("quantization", (0.0, 0))
    if scale:
        return ((q.astype(np.float32) - zero) * scale).astype(np.float32)
    return q.astype(np.float32) / float(np.iinfo(q.dtype).max)


class TFLiteRuntime(Runtime):
    """A .tflite file on LiteRT (`ai_edge_litert`), float or integer-quantised.

    A model converted with a fixed input size gets each image letterboxed into it (resized to fit,
    reflect-padded) and its outputs mapped back, so any image size works.
    """

    def __init__(self, path, threads=None):
        from ai_edge_litert.interpreter import Interpreter

        try:
            self._interp = Interpreter(model_path=str(path), num_threads=threads or None)
        except Exception as e:
            raise ModelError(f"{path}: cannot load the TFLite model ({_first_line(e)})") from None
        self.name = f"tflite:{Path(path).name}"
        self._auto = self._given = None
        for key in self._interp.get_signature_list():
            runner = self._interp.get_signature_runner(key)
            details = runner.get_input_details()
            spec = [(k, tuple(d["shape_signature"]), np.dtype(d["dtype"]).name) for k, d in details.items()]
            image, trimap = _find_inputs(spec)
            if image is None:
                continue
            entry = (runner, details, runner.get_output_details(), image, trimap)
            if trimap is None and self._auto is None:
                self._auto = entry
            elif trimap is not None and self._given is None:
                self._given = entry
        if self._auto is None and self._given is None:
            raise ModelError(f"{path}: no signature takes an image (convert with a named serving signature)")
        first = self._auto or self._given
        shape = tuple(first[1][first[3]]["shape_signature"])
        self.fixed_size = None if min(shape[1:3]) < 0 else (int(shape[1]), int(shape[2]))

    def _run_one(self, entry, image, trimap):
        runner, in_details, out_details, image_key, trimap_key = entry
        inputs = {image_key: _quantize(image[None], in_details[image_key])}
        if trimap_key is not None:
            inputs[trimap_key] = _quantize(trimap[None], in_details[trimap_key])
        raw = runner(**inputs)
        return _as_output_dict({k: _dequantize(v, out_details[k])[0] for k, v in raw.items()})

    def _letterbox(self, x, interpolation):
        """Fits an (H, W, C) array into the fixed size: resize keeping the aspect, reflect-pad bottom/right."""
        fh, fw = self.fixed_size
        h, w = x.shape[:2]
        scale = min(fh / h, fw / w)
        rh, rw = min(fh, max(1, round(h * scale))), min(fw, max(1, round(w * scale)))
        if (rh, rw) != (h, w):
            x = cv2.resize(x, (rw, rh), interpolation=interpolation).reshape(rh, rw, -1)
        return pad_reflect(x, (0, fh - rh, 0, fw - rw)), (rh, rw)

    def predict(self, image, trimap=None):
        entry = self._auto if trimap is None else self._given
        if entry is None:
            need = "a trimap input" if trimap is not None else "an image-only signature (it needs a trimap)"
            raise ModelError(f"{self.name} has no signature with {need}")
        image = np.asarray(image, np.float32)
        results = []
        for i in range(image.shape[0]):
            x, t = image[i], None if trimap is None else np.asarray(trimap[i], np.float32)
            if self.fixed_size is None or x.shape[:2] == self.fixed_size:
                results.append(self._run_one(entry, x, t))
                continue
            h, w = x.shape[:2]
            shrink = self.fixed_size[0] < h or self.fixed_size[1] < w
            xf, (rh, rw) = self._letterbox(x, cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
            tf_ = None if t is None else self._letterbox(t, cv2.INTER_NEAREST)[0]
            out = self._run_one(entry, xf, tf_)
            back = {}
            for k, v in out.items():
                interp = cv2.INTER_NEAREST if k == "trimap" else cv2.INTER_LINEAR
                back[k] = cv2.resize(v[:rh, :rw], (w, h), interpolation=interp).reshape(h, w, -1)
            results.append(back)
        return {k: np.stack([r[k] for r in results]) for k in results[0]}


def load_runtime(model="default", threads=None) -> Runtime:
    """A Runtime for 'default', a .keras file, a SavedModel folder, a .tflite file or a keras.Model.

    Raises ModelError (one line) for a missing file, an unknown format or a model that fails to load.
    """
    if isinstance(model, Runtime):
        return model
    if not isinstance(model, (str, Path)):
        return KerasRuntime(model, threads)
    bundle = resolve(model)
    if bundle.format == "savedmodel":
        return SavedModelRuntime(bundle.path, threads)
    if bundle.format == "keras":
        return KerasRuntime(bundle.path, threads, trimap_net=bundle.trimap_net)
    return TFLiteRuntime(bundle.path, threads)
