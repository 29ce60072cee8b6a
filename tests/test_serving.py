"""alphanet_tf.serving against a real exported SavedModel behind real REST and gRPC servers.

`tensorflow_model_server` cannot be installed here, so the servers are small in-process stand-ins that speak
its wire formats (REST row format with b64 strings; `tensorflow.serving.PredictionService/Predict` with the
official protos) and run the SavedModel's `serving_default` signature as the server would.
"""

import base64
import json
import threading
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from alphanet_tf import serving
from tests.test_inference import photo


@pytest.fixture(scope="module")
def signature(tiny_model_path, tmp_path_factory):
    import keras
    import tensorflow as tf

    import alphanet_tf.layers  # noqa: F401
    from export.savedmodel import export_savedmodel

    model = keras.saving.load_model(tiny_model_path, compile=False)
    root = tmp_path_factory.mktemp("serving")
    version_dir = export_savedmodel(model, root)
    return tf.saved_model.load(str(version_dir)).signatures["serving_default"]


def run_signature(signature, blobs):
    import tensorflow as tf

    out = signature(image_bytes=tf.constant(blobs))
    return [bytes(b) for b in out["alpha_png_bytes"].numpy()], out["alpha"].numpy()


def expected_alphas(signature, blobs):
    pngs, _ = run_signature(signature, blobs)
    return [serving.decode_alpha_png(p) for p in pngs]


@pytest.fixture(scope="module")
def rest_server(signature):
    calls = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def reply(self, code, body):
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):
            if self.path != "/v1/models/alphanet:predict":
                return self.reply(404, {"error": f"Servable not found for request: {self.path}"})
            request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            calls.append(request)
            try:
                blobs = [base64.b64decode(i["b64"]) for i in request["instances"]]
                pngs, alphas = run_signature(signature, blobs)
            except Exception as e:  # the server answers 400 with the TensorFlow error
                return self.reply(400, {"error": str(e).splitlines()[0]})
            self.reply(200, {"predictions": [
                {"alpha_png_bytes": {"b64": base64.b64encode(p).decode()}, "alpha": a.tolist()}
                for p, a in zip(pngs, alphas)]})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], calls
    server.shutdown()


@pytest.fixture(scope="module")
def grpc_server(signature):
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    seen = []

    def predict(request, context):
        seen.append(request)
        blobs = list(tf.make_ndarray(request.inputs["image_bytes"]))
        pngs, alphas = run_signature(signature, blobs)
        response = predict_pb2.PredictResponse()
        response.model_spec.CopyFrom(request.model_spec)
        outputs = {"alpha_png_bytes": np.array(pngs, dtype=object), "alpha": alphas}
        for name in request.output_filter or outputs:
            response.outputs[name].CopyFrom(tf.make_tensor_proto(outputs[name]))
        return response

    handler = grpc.method_handlers_generic_handler("tensorflow.serving.PredictionService", {
        "Predict": grpc.unary_unary_rpc_method_handler(
            predict, request_deserializer=predict_pb2.PredictRequest.FromString,
            response_serializer=predict_pb2.PredictResponse.SerializeToString)})
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}", seen
    server.stop(None)


def test_rest_url():
    assert serving.rest_url() == "http://localhost:8501/v1/models/alphanet:predict"
    assert serving.rest_url("h", 9, version=3) == "http://h:9/v1/models/alphanet/versions/3:predict"


def test_build_rest_request_encodes_every_input_kind(tmp_path):
    from alphanet_tf.imageio import encode_png, read_image

    image = photo(20, 30)
    path = tmp_path / "a.png"
    path.write_bytes(encode_png(image))
    body = serving.build_rest_request([image, path, path.read_bytes()])
    assert body["signature_name"] == "serving_default"
    blobs = [base64.b64decode(i["b64"]) for i in body["instances"]]
    assert blobs[1] == blobs[2] == path.read_bytes()
    np.testing.assert_array_equal(read_image(blobs[0])[0], image)  # arrays go as lossless PNG
    with pytest.raises(TypeError, match="uint8"):
        serving.build_rest_request([image.astype(np.float32)])
    with pytest.raises(ValueError, match="no images"):
        serving.build_rest_request([])


def test_decode_rest_response_row_and_columnar_formats():
    from alphanet_tf.imageio import encode_png

    alpha = np.array([[0, 128, 255]], np.uint8)
    value = {"b64": base64.b64encode(encode_png(alpha)).decode()}
    expected = alpha / 255.0
    for response in ({"predictions": [{"alpha_png_bytes": value, "alpha": [[0.0]]}]},
                     {"predictions": [value]},
                     {"outputs": {"alpha_png_bytes": [value]}}):
        (got,) = serving.decode_rest_response(response)
        np.testing.assert_allclose(got, expected, atol=1e-6)
    with pytest.raises(serving.ServingError, match="server error: boom"):
        serving.decode_rest_response({"error": "boom"})
    with pytest.raises(serving.ServingError, match="no 'predictions'"):
        serving.decode_rest_response({"foo": 1})


def test_predict_rest_against_the_savedmodel(rest_server, signature):
    port, calls = rest_server
    from alphanet_tf.imageio import encode_png

    images = [photo(40, 56, seed=1), photo(33, 47, seed=2)]
    alphas = serving.predict_rest(serving.rest_url("127.0.0.1", port), images)
    expected = expected_alphas(signature, [encode_png(i) for i in images])
    assert [a.shape for a in alphas] == [(40, 56), (33, 47)]
    for got, want in zip(alphas, expected):
        np.testing.assert_array_equal(got, want)
    assert calls[-1]["signature_name"] == "serving_default" and len(calls[-1]["instances"]) == 2


def test_predict_rest_errors_are_one_line(rest_server):
    port, _ = rest_server
    with pytest.raises(serving.ServingError, match=r"HTTP 400: .+"):
        serving.predict_rest(serving.rest_url("127.0.0.1", port), [b"not an image"])
    with pytest.raises(serving.ServingError, match="HTTP 404: Servable not found"):
        serving.predict_rest(serving.rest_url("127.0.0.1", port, model="nope"), [photo(8, 8)])
    with pytest.raises(serving.ServingError, match="127.0.0.1:1"):
        serving.predict_rest("http://127.0.0.1:1/v1/models/alphanet:predict", [photo(8, 8)], timeout=5)


def test_predict_grpc_against_the_savedmodel(grpc_server, signature):
    address, seen = grpc_server
    from alphanet_tf.imageio import encode_png

    images = [photo(40, 56, seed=3), photo(25, 31, seed=4)]
    alphas = serving.predict_grpc(address, images, version=1)
    expected = expected_alphas(signature, [encode_png(i) for i in images])
    for got, want in zip(alphas, expected):
        np.testing.assert_array_equal(got, want)
    request = seen[-1]
    assert request.model_spec.name == "alphanet" and request.model_spec.version.value == 1
    assert list(request.output_filter) == ["alpha_png_bytes"]


def test_predict_grpc_unreachable_server_is_a_serving_error():
    with pytest.raises(serving.ServingError, match="127.0.0.1:1: UNAVAILABLE"):
        serving.predict_grpc("127.0.0.1:1", [photo(8, 8)], timeout=5)


def test_own_messages_are_wire_compatible_with_the_official_protos():
    """The fallback classes (no tensorflow-serving-api) and the official ones read each other's bytes."""
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    own_request, own_response = serving.predict_messages(prefer_official=False)
    assert own_request is not predict_pb2.PredictRequest
    request = serving.build_grpc_request([b"abc", b"defg"], version=7, request_class=own_request)
    official = predict_pb2.PredictRequest.FromString(request.SerializeToString())
    assert official.model_spec.name == "alphanet" and official.model_spec.signature_name == "serving_default"
    assert official.model_spec.version.value == 7 and list(official.output_filter) == ["alpha_png_bytes"]
    assert list(tf.make_ndarray(official.inputs["image_bytes"])) == [b"abc", b"defg"]

    from alphanet_tf.imageio import encode_png

    png = encode_png(np.array([[0, 255]], np.uint8))
    response = predict_pb2.PredictResponse()
    response.outputs["alpha_png_bytes"].CopyFrom(tf.make_tensor_proto(np.array([png], dtype=object)))
    response.outputs["alpha"].CopyFrom(tf.make_tensor_proto(np.zeros((1, 1, 2, 1), np.float32)))
    (alpha,) = serving.decode_grpc_response(own_response.FromString(response.SerializeToString()))
    np.testing.assert_array_equal(alpha, [[0.0, 1.0]])
    with pytest.raises(serving.ServingError, match="no 'x' in the response"):
        serving.decode_grpc_response(response, output="x")
