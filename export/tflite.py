"""TFLite converters (fp32, fp16, int8 post-training), the builtin-only op check, and model metadata.

Every model is batch 1 at a fixed square size (phones and LiteRT.js want static shapes), converted with
builtin ops only: `SELECT_TF_OPS` (Flex) is never offered to the converter, custom ops are refused, and the
op list of the result is checked again with the reference kernels (the default interpreter hides the graph
behind one XNNPACK DELEGATE node). The int8 model takes uint8 pixels (scale 1, zero point 0: the raw
image) and returns float32 maps, like the float models.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np

#: format name -> (file name, short description)
FORMATS = {
    "tflite-fp32": ("alphanet_fp32.tflite", "float32 reference for mobile / LiteRT.js"),
    "tflite-fp16": ("alphanet_fp16.tflite", "float16 weights (half the size), float32 compute on CPU"),
    "tflite-int8-ptq": ("alphanet_int8_ptq.tflite", "int8 post-training quantization, uint8 image input"),
    "tflite-int8-qat": ("alphanet_int8_qat.tflite", "int8 from the quantization-aware trained model (export.qat)"),
}
METADATA_NAME = "alphanet_metadata"  # name of the JSON buffer embedded in the .tflite
_BOUNDARY_OPS = {"QUANTIZE", "DEQUANTIZE"}


class ConversionError(RuntimeError):
    """A conversion that failed or produced a graph we refuse to ship (Flex/custom ops)."""


def write_fixed_savedmodel(model, size: int, directory) -> str:
    """A SavedModel of the model at a static (1, size, size, 3) input named `image` (TFLite needs static
    shapes). Written once and converted to every format: tracing the Keras model is the slow half."""
    import keras
    import tensorflow as tf

    archive = keras.export.ExportArchive()  # no track(model): it would store every weight twice
    archive.add_endpoint(
        name="serving_default",
        fn=lambda image: model(image, training=False),
        input_signature=[tf.TensorSpec((1, size, size, 3), tf.float32, name="image")],
    )
    archive.write_out(str(directory), verbose=False)
    return str(directory)


def _converter(saved_model_dir):
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir, signature_keys=["serving_default"])
    converter.allow_custom_ops = False
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]  # no SELECT_TF_OPS: Flex forbidden
    return converter


def convert(saved_model_dir, fmt: str, representative=None) -> bytes:
    """Converts the fixed-size SavedModel to one TFLite format; `representative` (callable -> iterator of
    float32 (1, size, size, 3) arrays) is required for int8."""
    import tensorflow as tf

    converter = _converter(saved_model_dir)
    if fmt == "tflite-fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif fmt == "tflite-int8-ptq":
        if representative is None:
            raise ValueError("int8 conversion needs representative data")
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([x] for x in representative())
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.uint8
        converter.inference_output_type = tf.float32
    elif fmt == "tflite-int8-qat":
        # The SavedModel of a QAT model (export.qat) carries FakeQuant ops with the learnt ranges: the
        # converter quantizes with those, no representative data. TFLITE_BUILTINS_INT8 is not offered:
        # TF 2.21's converter then asks for a representative dataset before it has looked at the graph
        # (its QAT check runs without the graph on the SavedModel path); `float_ops` checks the result.
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.inference_input_type = tf.uint8
        converter.inference_output_type = tf.float32
    elif fmt != "tflite-fp32":
        raise ValueError(f"unknown TFLite format {fmt!r}")
    try:
        return converter.convert()
    except Exception as e:  # the converter raises ConverterError with the offending ops listed
        raise ConversionError(f"{fmt}: conversion failed: {e}") from e


def _interpreter(content: bytes):
    """Reference kernels without the default delegate, so the op list is the real graph."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    return Interpreter(model_content=content,
                       experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)


def builtin_op_names() -> set[str]:
    """Every builtin operator name of the TFLite schema (CONV_2D, ...), from LiteRT's own schema."""
    from ai_edge_litert.schema_py_generated import BuiltinOperator

    return {k for k in vars(BuiltinOperator) if k.isupper() and k not in ("CUSTOM", "DELEGATE")}


def op_counts(content: bytes) -> Counter:
    """Op name -> count in the model's main graph."""
    return Counter(d["op_name"] for d in _interpreter(content)._get_ops_details())


def check_builtin_only(content: bytes) -> Counter:
    """Op counts, or ConversionError naming any Flex / custom / unknown op (they need extra runtimes)."""
    counts = op_counts(content)
    builtins = builtin_op_names()
    bad = sorted(name for name in counts if name.startswith("Flex") or name not in builtins)
    if bad:
        raise ConversionError(f"non-builtin ops in the TFLite graph: {', '.join(bad)}")
    return counts


def float_ops(content: bytes) -> list[dict]:
    """Ops of a quantized model that compute in float (a non-constant float32/float16 tensor in or out).

    QUANTIZE / DEQUANTIZE at the graph's inputs and outputs are the interface, not float compute; they
    are left out. Each entry names the op and its float tensors (their names carry the Keras layer).
    Read from the flatbuffer itself: a tensor with data in its buffer is a constant (a weight).
    """
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    graph = model.subgraphs[0]
    graph_io = set(graph.inputs) | set(graph.outputs)
    float_types = (schema.TensorType.FLOAT32, schema.TensorType.FLOAT16)

    def is_float_activation(i):
        tensor = graph.tensors[i]
        data = model.buffers[tensor.buffer].data if tensor.buffer else None
        return tensor.type in float_types and (data is None or len(data) == 0)

    found = []
    for op in graph.operators:
        name = flatbuffer_utils.opcode_to_name(model, op.opcodeIndex)
        ids = [i for i in list(op.inputs) + list(op.outputs) if i >= 0]
        float_ids = [i for i in ids if is_float_activation(i)]
        if not float_ids or (name in _BOUNDARY_OPS and any(i in graph_io for i in ids)):
            continue
        found.append({"op": name, "tensors": [graph.tensors[i].name.decode() for i in float_ids][:3]})
    return found


def io_details(content: bytes) -> dict:
    """Signature input/output names, shapes, dtypes and quantization, for the metadata."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=content)
    runner = interp.get_signature_runner()

    def describe(details):
        return {name: {"shape": [int(s) for s in d["shape"]], "dtype": np.dtype(d["dtype"]).name,
                       "quantization": [float(d["quantization"][0]), int(d["quantization"][1])]}
                for name, d in sorted(details.items())}

    return {"inputs": describe(runner.get_input_details()), "outputs": describe(runner.get_output_details())}


def build_metadata(content: bytes, fmt: str, size: int, source: str, ops: Counter, float_op_list) -> dict:
    """What a mobile runtime needs to feed and read the model (what tflite-support metadata would carry)."""
    io = io_details(content)
    return {
        "name": "AlphaNet automatic image matting",
        "format": fmt,
        "source_model": source,
        "size": [size, size],
        "signature": "serving_default",
        "input": {
            "name": "image",
            "layout": "NHWC, batch 1, RGB",
            "normalization": "none outside the model: raw pixel values 0..255 (float32, or uint8 for int8); "
                             "ImageNet mean/std are applied inside the graph",
            "resize": "letterbox or pad the image to the fixed size; sides here are multiples of 32",
        },
        "outputs": {
            "alpha": "float32 [0, 1], the matte (1 = foreground)",
            "trimap": "float32 in {0, 0.5, 1}: background, unknown band, foreground",
            "segmentation": "float32 [0, 1], foreground probability of the segmentation stage",
        },
        "tensors": io,
        "ops": dict(sorted(ops.items())),
        "float_ops": float_op_list,
    }


def embed_metadata(content: bytes, metadata: dict) -> bytes:
    """Stores the metadata JSON in the model's `metadata` table (name `alphanet_metadata`), via LiteRT's
    own flatbuffer schema: runtimes ignore unknown entries, tools can read it back from the file alone."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(json.dumps(metadata).encode(), np.uint8)
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name = METADATA_NAME
    entry.buffer = len(model.buffers) - 1
    model.metadata = [m for m in (model.metadata or []) if m.name != METADATA_NAME.encode()] + [entry]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def read_embedded_metadata(path) -> dict | None:
    """The JSON written by `embed_metadata`, or None."""
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(path))
    for entry in model.metadata or []:
        if entry.name in (METADATA_NAME, METADATA_NAME.encode()):
            return json.loads(bytes(model.buffers[entry.buffer].data).decode())
    return None


def export_tflite(saved_model_dir, out_dir, fmt: str, size: int, source: str, representative=None) -> Path:
    """Converts, checks builtin-only ops, embeds metadata and writes `<name>.tflite` + `<name>.json`."""
    content = convert(saved_model_dir, fmt, representative)
    ops = check_builtin_only(content)
    floats = float_ops(content) if "int8" in fmt else []
    metadata = build_metadata(content, fmt, size, source, ops, floats)
    path = Path(out_dir) / FORMATS[fmt][0]
    path.write_bytes(embed_metadata(content, metadata))
    path.with_suffix(".json").write_text(json.dumps(metadata, indent=2) + "\n")
    return path
