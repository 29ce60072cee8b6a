"""Client for the AlphaNet SavedModel under TF Serving: REST (urllib) and gRPC (grpcio), no TensorFlow needed.

    from alphanet_tf import serving

    alphas = serving.predict_rest("http://localhost:8501/v1/models/alphanet:predict", ["photo.jpg"])
    alphas = serving.predict_grpc("localhost:8500", [open("photo.jpg", "rb").read()])
    alphas[0]                      # float32 (H, W) in [0, 1], at the photo's own size

Images are file paths, encoded bytes (JPEG / PNG / BMP / GIF, sent as they are) or uint8 (H, W, 3) RGB arrays
(sent as PNG). The server decodes them with `tf.io.decode_image`, which ignores EXIF orientation: rotate
phone photos before sending them (`alphanet_tf.imageio.read_image` does) if they carry one.

The signature is `serving_default` of `alphanet export` (docs/export.md): input `image_bytes` (string [N]),
outputs `alpha_png_bytes` (one 8-bit grey PNG per image) and `alpha` (float, padded to the batch's largest
image). REST JSON carries binary strings as `{"b64": ...}`, in requests and, for outputs whose name ends in
`_bytes`, in responses. Over gRPC only the PNG is asked for (`output_filter`), so responses stay small.

gRPC messages: the official classes of `tensorflow-serving-api` when it is installed
(`tensorflow_serving.apis.predict_pb2`), otherwise wire-compatible copies of the fields used here (same
field numbers as `tensorflow_serving/apis/predict.proto`, `model.proto` and TensorFlow's `tensor.proto`),
built at import in a private descriptor pool. `tensorflow-serving-api` 2.21.0 requires the `tensorflow`
package itself (not `tensorflow-cpu`, which this project installs): `pip install --no-deps
tensorflow-serving-api==2.21.0` adds it without a second TensorFlow.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

MODEL_NAME = "alphanet"
SIGNATURE = "serving_default"
INPUT = "image_bytes"
PNG_OUTPUT = "alpha_png_bytes"
PREDICT_METHOD = "/tensorflow.serving.PredictionService/Predict"
DT_FLOAT, DT_STRING = 1, 7  # tensorflow.DataType
MAX_MESSAGE_BYTES = 256 * 1024 * 1024


class ServingError(RuntimeError):
    """The server refused or failed a request, or answered something that is not an alpha PNG."""


# ----------------------------------------------------------------------------------------------- inputs


def encode_image(image) -> bytes:
    """A path, encoded bytes or a uint8 (H, W, 3) array -> the bytes to send."""
    if isinstance(image, (bytes, bytearray, memoryview)):
        return bytes(image)
    if isinstance(image, (str, Path)):
        return Path(image).read_bytes()
    array = np.asarray(image)
    if array.dtype != np.uint8 or array.ndim not in (2, 3):
        raise TypeError(f"images are paths, bytes or uint8 (H, W[, C]) arrays, got {array.dtype} {array.shape}")
    from alphanet_tf.imageio import encode_png

    return encode_png(array)


def _encode_all(images) -> list[bytes]:
    if isinstance(images, (bytes, bytearray, str, Path, np.ndarray)):
        images = [images]
    blobs = [encode_image(i) for i in images]
    if not blobs:
        raise ValueError("no images to send")
    return blobs


def decode_alpha_png(data: bytes) -> np.ndarray:
    """8-bit grey PNG bytes -> float32 (H, W) in [0, 1]."""
    from alphanet_tf.imageio import read_grey

    return read_grey(bytes(data), name="alpha PNG from the server")


# ------------------------------------------------------------------------------------------------- REST


def rest_url(host="localhost", port=8501, model=MODEL_NAME, version=None) -> str:
    """`http://host:port/v1/models/<model>[/versions/<v>]:predict`."""
    version_part = f"/versions/{int(version)}" if version is not None else ""
    return f"http://{host}:{int(port)}/v1/models/{model}{version_part}:predict"


def build_rest_request(images, signature_name=SIGNATURE) -> dict:
    """The JSON body (row format) of a predict call: one `{"b64": ...}` instance per image."""
    return {"signature_name": signature_name,
            "instances": [{"b64": base64.b64encode(b).decode("ascii")} for b in _encode_all(images)]}


def _b64_value(value) -> bytes:
    if isinstance(value, dict) and "b64" in value:
        return base64.b64decode(value["b64"])
    raise ServingError(f"expected a {{'b64': ...}} value for {PNG_OUTPUT}, got {type(value).__name__}")


def decode_rest_response(response: dict, output=PNG_OUTPUT) -> list[np.ndarray]:
    """The alphas (float32 (H, W) in [0, 1]) of a REST predict response, row (`predictions`) or columnar
    (`outputs`) format."""
    if "error" in response:
        raise ServingError(f"server error: {response['error']}")
    if "predictions" in response:
        rows = response["predictions"]
        values = [row[output] if isinstance(row, dict) and output in row else row for row in rows]
    elif "outputs" in response:
        outputs = response["outputs"]
        values = outputs[output] if isinstance(outputs, dict) else outputs
    else:
        raise ServingError(f"no 'predictions' or 'outputs' in the response (keys: {sorted(response)})")
    return [decode_alpha_png(_b64_value(v)) for v in values]


def predict_rest(url, images, signature_name=SIGNATURE, timeout=60.0) -> list[np.ndarray]:
    """POSTs the images to a TF Serving REST predict URL (see `rest_url`) and returns their alphas."""
    body = json.dumps(build_rest_request(images, signature_name)).encode()
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            payload = answer.read()
    except urllib.error.HTTPError as e:
        detail = e.read().decode(errors="replace")
        try:
            detail = json.loads(detail).get("error", detail)
        except ValueError:
            pass
        raise ServingError(f"{url}: HTTP {e.code}: {detail}") from None
    except urllib.error.URLError as e:
        raise ServingError(f"{url}: {e.reason}") from None
    try:
        response = json.loads(payload)
    except ValueError:
        raise ServingError(f"{url}: the answer is not JSON ({payload[:80]!r})") from None
    return decode_rest_response(response)


# ------------------------------------------------------------------------------------------------- gRPC


def _own_messages():
    """(PredictRequest, PredictResponse) with the fields used here, wire-compatible with TF Serving."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    F = descriptor_pb2.FieldDescriptorProto
    opt, rep = F.LABEL_OPTIONAL, F.LABEL_REPEATED

    def message(name, fields, nested=()):
        m = descriptor_pb2.DescriptorProto(name=name)
        for field_name, number, label, ftype, type_name, *packed in fields:
            f = m.field.add(name=field_name, number=number, label=label, type=ftype)
            if type_name:
                f.type_name = type_name
        m.nested_type.extend(nested)
        return m

    def map_entry(name, value_type):
        entry = message(name, [("key", 1, opt, F.TYPE_STRING, None), ("value", 2, opt, F.TYPE_MESSAGE, value_type)])
        entry.options.map_entry = True
        return entry

    p = ".alphanet_tf.serving"
    file = descriptor_pb2.FileDescriptorProto(name="alphanet_tf/serving_predict.proto", package="alphanet_tf.serving",
                                              syntax="proto3")
    file.message_type.extend([
        message("Int64Value", [("value", 1, opt, F.TYPE_INT64, None)]),  # google.protobuf.Int64Value
        message("TensorShapeProto", [("dim", 2, rep, F.TYPE_MESSAGE, f"{p}.TensorShapeProto.Dim"),
                                     ("unknown_rank", 3, opt, F.TYPE_BOOL, None)],
                nested=[message("Dim", [("size", 1, opt, F.TYPE_INT64, None), ("name", 2, opt, F.TYPE_STRING, None)])]),
        message("TensorProto", [("dtype", 1, opt, F.TYPE_INT32, None),  # tensorflow.DataType (an enum: varint)
                                ("tensor_shape", 2, opt, F.TYPE_MESSAGE, f"{p}.TensorShapeProto"),
                                ("version_number", 3, opt, F.TYPE_INT32, None),
                                ("tensor_content", 4, opt, F.TYPE_BYTES, None),
                                ("float_val", 5, rep, F.TYPE_FLOAT, None),
                                ("int_val", 7, rep, F.TYPE_INT32, None),
                                ("string_val", 8, rep, F.TYPE_BYTES, None)]),
        message("ModelSpec", [("name", 1, opt, F.TYPE_STRING, None),
                              ("version", 2, opt, F.TYPE_MESSAGE, f"{p}.Int64Value"),
                              ("signature_name", 3, opt, F.TYPE_STRING, None),
                              ("version_label", 4, opt, F.TYPE_STRING, None)]),
        message("PredictRequest", [("model_spec", 1, opt, F.TYPE_MESSAGE, f"{p}.ModelSpec"),
                                   ("inputs", 2, rep, F.TYPE_MESSAGE, f"{p}.PredictRequest.InputsEntry"),
                                   ("output_filter", 3, rep, F.TYPE_STRING, None)],
                nested=[map_entry("InputsEntry", f"{p}.TensorProto")]),
        message("PredictResponse", [("outputs", 1, rep, F.TYPE_MESSAGE, f"{p}.PredictResponse.OutputsEntry"),
                                    ("model_spec", 2, opt, F.TYPE_MESSAGE, f"{p}.ModelSpec")],
                nested=[map_entry("OutputsEntry", f"{p}.TensorProto")]),
    ])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    get = lambda name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"alphanet_tf.serving.{name}"))  # noqa: E731
    return get("PredictRequest"), get("PredictResponse")


_MESSAGES = None


def predict_messages(prefer_official=True):
    """(PredictRequest, PredictResponse) classes: tensorflow-serving-api's if importable, else our own."""
    global _MESSAGES
    if prefer_official:
        try:
            from tensorflow_serving.apis import predict_pb2

            return predict_pb2.PredictRequest, predict_pb2.PredictResponse
        except ImportError:
            pass
    if _MESSAGES is None:
        _MESSAGES = _own_messages()
    return _MESSAGES


def build_grpc_request(images, model_name=MODEL_NAME, signature_name=SIGNATURE, version=None,
                       output_filter=(PNG_OUTPUT,), request_class=None):
    """A `PredictRequest`: `image_bytes` as a DT_STRING tensor [N], only `output_filter` returned."""
    request_class = request_class or predict_messages()[0]
    blobs = _encode_all(images)
    request = request_class()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    if version is not None:
        request.model_spec.version.value = int(version)
    tensor = request.inputs[INPUT]
    tensor.dtype = DT_STRING
    tensor.tensor_shape.dim.add().size = len(blobs)
    tensor.string_val.extend(blobs)
    request.output_filter.extend(output_filter or ())
    return request


def decode_grpc_response(response, output=PNG_OUTPUT) -> list[np.ndarray]:
    """The alphas of a `PredictResponse` (its `alpha_png_bytes` string tensor)."""
    if output not in response.outputs:
        raise ServingError(f"no {output!r} in the response (outputs: {sorted(response.outputs)})")
    return [decode_alpha_png(b) for b in response.outputs[output].string_val]


def predict_grpc(address, images, model_name=MODEL_NAME, signature_name=SIGNATURE, version=None, timeout=60.0):
    """Calls `PredictionService/Predict` at `address` ("host:8500") and returns the alphas."""
    import grpc

    request_class, response_class = predict_messages()
    request = build_grpc_request(images, model_name, signature_name, version, request_class=request_class)
    options = [("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
               ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES)]
    with grpc.insecure_channel(address, options=options) as channel:
        predict = channel.unary_unary(PREDICT_METHOD, request_serializer=request_class.SerializeToString,
                                      response_deserializer=response_class.FromString)
        try:
            response = predict(request, timeout=timeout)
        except grpc.RpcError as e:
            raise ServingError(f"{address}: {e.code().name}: {e.details()}") from None
    return decode_grpc_response(response)
