"""Band scores of the given-trimap refinement at several prior weights (how `PRIOR_WEIGHT` was chosen).

    python -m training.data.validation_folders runs/val --training-photos
    python -m benchmarks.refine_weight_sweep --folder runs/val/alphamatting_train \
        --weights 0 0.001 0.003 0.01 0.1 1

Runs the model once per photo without the refinement (weight 0 = the net alone), then refines that matte at
every weight and scores it over the trimap's unknown band with `alphanet eval`'s scorer. Choose on the
training photos; the validation photos are for measuring the choice once.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

from alphanet_tf.inference import as_rgb_uint8, as_trimap
from alphanet_tf.laplacian_refinement import refine_with_laplacian


class _Refined:
    """A Matter-like object for `evaluate_folder`: the cached net matte refined at one weight."""

    def __init__(self, matter, weight: float, cache: dict):
        self.matter, self.weight, self.cache, self.refine = matter, weight, cache, weight > 0

    def matte(self, image, trimap=None):
        rgb = as_rgb_uint8(image)
        levels = as_trimap(trimap, rgb.shape[:2])
        key = hashlib.sha1(rgb.tobytes() + levels.tobytes() + str(rgb.shape).encode()).hexdigest()
        if key not in self.cache:
            self.cache[key] = self.matter.matte(rgb, levels)
        raw = self.cache[key]
        return refine_with_laplacian(rgb, levels, raw, self.weight) if self.weight > 0 else raw


def sweep(folder: Path, weights, model="default") -> dict[float, dict]:
    """{weight: mean band scores} on `folder`/{images,alphas,trimaps}."""
    from alphanet_tf.evaluation import evaluate_folder
    from alphanet_tf.inference import Matter

    matter, cache = Matter(model, refine=False), {}
    return {w: evaluate_folder(folder / "images", folder / "alphas", trimaps=folder / "trimaps", mode="trimap",
                               region="unknown", matter=_Refined(matter, w, cache), progress=False)["mean"]
            for w in weights}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", type=Path, required=True, help="a folder with images/, alphas/, trimaps/")
    parser.add_argument("--weights", type=float, nargs="+", required=True, help="prior weights (0: the net alone)")
    parser.add_argument("--model", default="default")
    args = parser.parse_args(argv)
    print("weight      sad       mse      grad      conn")
    for w, m in sweep(args.folder, args.weights, args.model).items():
        print(f"{w:<8g}{m['sad']:>8.4f}{m['mse']:>10.5f}{m['grad']:>10.4f}{m['conn']:>10.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
