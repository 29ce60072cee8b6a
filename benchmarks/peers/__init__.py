"""Peer methods, one module each: trimap-free models (ONNX / LiteRT) and pymatting's trimap-based solvers.

Every peer has ``name``, ``slug``, ``kind``, ``license`` and ``predict(image_uint8[, trimap]) -> alpha``
(see ``benchmarks.methods.Method``). Model files are sha256-checked (``benchmarks.peers.files``).
"""

from benchmarks.peers.closed_form import ClosedForm
from benchmarks.peers.isnet import ISNetMedium, ISNetSmall
from benchmarks.peers.knn import KNN
from benchmarks.peers.lkm import LargeKernel
from benchmarks.peers.modnet import MODNet
from benchmarks.peers.rvm import RVM
from benchmarks.peers.selfie import Selfie
from benchmarks.peers.u2netp import U2NetP

#: Table order: trimap-free peers (fast to slow), then the trimap-based solvers.
PEERS = (Selfie, U2NetP, MODNet, RVM, ISNetSmall, ISNetMedium, ClosedForm, KNN, LargeKernel)

__all__ = ["PEERS", *(p.__name__ for p in PEERS)]
