"""KNN matting (Chen et al. 2013) from pymatting: non-local neighbours in colour and position."""

from benchmarks.peers.pymatting_peer import PymattingPeer


class KNN(PymattingPeer):
    name = "KNN"
    slug = "knn"
    function = "estimate_alpha_knn"
    task = "trimap-based matting (non-local KNN Laplacian)"
