"""MediaPipe selfie segmentation (general model, 256x256): a 250 KB person mask net, not a matte.

Input NHWC float in [0, 1] at 256x256 (the image is squeezed, as MediaPipe's calculator does); output the
person probability, resized back. Trained on people only: scores on objects are flagged. Apache-2.0.
"""

import numpy as np

from benchmarks.flops import tflite_cost
from benchmarks.methods import Method, clip_alpha
from benchmarks.peers.files import peer_file, pinned_hashes
from benchmarks.peers.onnx_peer import resize


class Selfie(Method):
    name = "MediaPipe selfie"
    slug = "selfie"
    file = "selfie_segmentation.tflite"
    task = "person segmentation (mask)"
    license = "Apache-2.0"
    runtime = "litert"
    people_only = True
    size = 256

    def files(self):
        return [peer_file(self.file)]

    def fingerprint(self) -> str:
        return f"{pinned_hashes()[self.file]}/1"

    def load(self, threads: int = 1) -> None:
        from ai_edge_litert.interpreter import Interpreter

        super().load(threads)
        self.interpreter = Interpreter(model_path=str(peer_file(self.file)), num_threads=int(threads))
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]["index"]
        self.output = self.interpreter.get_output_details()[0]["index"]

    def predict(self, image, trimap=None):
        h, w = image.shape[:2]
        x = resize(image, (self.size, self.size)).astype(np.float32) / 255.0
        self.interpreter.set_tensor(self.input, x[None])
        self.interpreter.invoke()
        prob = self.interpreter.get_tensor(self.output)[0, ..., 0]
        return clip_alpha(resize(prob.astype(np.float32), (h, w)))

    def cost(self, image, trimap=None) -> dict:
        return tflite_cost(peer_file(self.file))

    def close(self) -> None:
        self.interpreter = None
