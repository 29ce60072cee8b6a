"""Large-kernel matting (He et al. 2010) from pymatting: the matting Laplacian over large windows."""

from benchmarks.peers.pymatting_peer import PymattingPeer


class LargeKernel(PymattingPeer):
    name = "large-kernel"
    slug = "lkm"
    function = "estimate_alpha_lkm"
    task = "trimap-based matting (large-kernel Laplacian)"
