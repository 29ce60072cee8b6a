"""Robust Video Matting (MobileNetV3), single frame: the people teacher of our pseudo-labels.

Runs exactly as `training.data.pseudo_labels.rvm_alpha` (one copy): src in [0, 1], recurrent states zero,
downsample_ratio = min(1, 512 / long side), i.e. an internal resolution of about 512 px (RVM's own table
recommends 1.0 up to 512x512). GPL-3.0: benchmark and teacher only.
"""

from benchmarks.methods import clip_alpha
from benchmarks.peers.onnx_peer import OnnxPeer
from training.data.pseudo_labels import rvm_alpha


class RVM(OnnxPeer):
    name = "RVM"
    slug = "rvm"
    file = "rvm_mobilenetv3_fp32.onnx"
    task = "video portrait matting (single frame)"
    license = "GPL-3.0: benchmark and teacher only"
    people_only = True
    internal_side = 512

    def predict(self, image, trimap=None):
        return clip_alpha(rvm_alpha(self.session, image, internal_side=self.internal_side))
