"""U^2-Net-p (rembg's `u2netp`): a 4.7 MB salient-object net, the usual free background remover.

Pre-processing as rembg: 320x320, divide by the image maximum, ImageNet mean/std; the first of its seven
side outputs, min-max normalised. (cv2 area/bilinear resizes instead of PIL's Lanczos.)
"""

import numpy as np

from benchmarks.methods import clip_alpha
from benchmarks.peers.onnx_peer import OnnxPeer, resize, to_nchw

MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


class U2NetP(OnnxPeer):
    name = "U2-Net-p"
    slug = "u2netp"
    file = "u2netp.onnx"
    task = "salient object segmentation (rembg)"
    license = "Apache-2.0"
    size = 320

    def predict(self, image, trimap=None):
        h, w = image.shape[:2]
        x = resize(image, (self.size, self.size)).astype(np.float32)
        x = (x / max(float(x.max()), 1e-6) - MEAN) / STD
        feed = {self.session.get_inputs()[0].name: to_nchw(x)}
        d = self.session.run(None, feed)[0][0, 0]
        d = (d - d.min()) / max(float(d.max() - d.min()), 1e-12)
        return clip_alpha(resize(d.astype(np.float32), (h, w)))
