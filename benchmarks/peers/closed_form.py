"""Closed-form matting (Levin et al. 2008) from pymatting: the classic trimap-based baseline."""

from benchmarks.peers.pymatting_peer import PymattingPeer


class ClosedForm(PymattingPeer):
    name = "closed-form"
    slug = "closed-form"
    function = "estimate_alpha_cf"
    task = "trimap-based matting (matting Laplacian)"
