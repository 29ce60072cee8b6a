"""IS-Net (DIS) as shipped by @imgly/background-removal: a general salient-object segmenter at 1024x1024.

Pre-processing as imgly: bilinear resize to 1024x1024, (x - 128) / 256; output 0 of 12 (in [0, 1]) resized
back. Two weight files of one method: "small" (uint8 weights) and "medium" (fp16 weights). AGPL-3.0:
benchmark and teacher only. Slow on CPU (2-4 s): skip with `--skip isnet-small isnet-medium`.
"""

import cv2
import numpy as np

from benchmarks.methods import clip_alpha
from benchmarks.peers.onnx_peer import OnnxPeer, resize, to_nchw


class _ISNet(OnnxPeer):
    task = "salient object segmentation (DIS)"
    license = "AGPL-3.0: benchmark and teacher only"
    size = 1024

    def predict(self, image, trimap=None):
        h, w = image.shape[:2]
        x = cv2.resize(image, (self.size, self.size), interpolation=cv2.INTER_LINEAR).astype(np.float32)
        x = (x - 128.0) / 256.0
        out = self.session.run(None, {self.session.get_inputs()[0].name: to_nchw(x)})[0][0, 0]
        return clip_alpha(resize(out.astype(np.float32), (h, w)))


class ISNetSmall(_ISNet):
    name = "IS-Net small"
    slug = "isnet-small"
    file = "isnet_small.onnx"


class ISNetMedium(_ISNet):
    name = "IS-Net medium"
    slug = "isnet-medium"
    file = "isnet_medium.onnx"
