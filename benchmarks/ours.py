"""Our methods behind the benchmark interface: AlphaNet (any .keras / .tflite / SavedModel), and the paper's
"DeepLabV3+ + closed-form" rows: our segmentation + ED trimap, then a pymatting solver on that trimap.

Everything runs through `alphanet_tf.inference.Matter` (the same pre- and post-processing as `alphanet
matte`), with foreground estimation off: only the alpha is scored.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from benchmarks.flops import keras_gflops, tflite_cost
from benchmarks.methods import Method, clip_alpha, slugify
from benchmarks.peers.files import file_sha256
from benchmarks.peers.pymatting_peer import set_numba_threads, solve


def model_files(path: Path) -> list[Path]:
    """The files that make the model (`alphanet_tf.bundle.Bundle.files`)."""
    from alphanet_tf.bundle import resolve

    return resolve(path).files


def model_fingerprint(path: Path) -> str:
    h = hashlib.sha256()
    for f in model_files(path):
        h.update(f"{f.relative_to(path) if Path(path).is_dir() else f.name}:{file_sha256(f)}".encode())
    return h.hexdigest()


def has_matting_stage(path: Path) -> bool:
    """Whether a `.keras` file holds AlphaNet's `matting_net` (so it can take a given trimap); read from the
    archive's config without loading the model. HAttMatting has none: it is trimap-free."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            return '"matting_net"' in archive.read("config.json").decode("utf-8", "replace")
    except (OSError, KeyError, zipfile.BadZipFile):
        return False


def engine(path: Path) -> str:
    path = Path(path)
    if path.is_dir():
        return "tensorflow (SavedModel)"
    return "litert" if path.suffix.lower() == ".tflite" else "tensorflow (Keras)"


class AlphaNet(Method):
    """AlphaNet (or another model of ours, e.g. HAttMatting) from a model file; Keras AlphaNets also run the
    given-trimap mode (paper Table II)."""

    task = "automatic matting (ours)"
    license = "Apache-2.0 (ours)"
    ours = True

    def __init__(self, model="default", name="AlphaNet", slug=None):
        from alphanet_tf.bundle import resolve_model_path

        super().__init__(model=str(model), name=name, slug=slug)
        self.path = resolve_model_path(model)  # ModelError (one line) when missing
        self.name, self.slug = name, slug or slugify(name)
        self.runtime = engine(self.path)
        self.given_trimap = self.runtime == "tensorflow (Keras)" and has_matting_stage(self.path)

    def files(self):
        return model_files(self.path)

    def fingerprint(self) -> str:
        from alphanet_tf import hole_filling
        from alphanet_tf.laplacian_refinement import PRIOR_WEIGHT

        # the matte also depends on Matter's refinements: hole filling (automatic), the matting-Laplacian
        # solve (given trimap)
        tag = f"{model_fingerprint(self.path)}:hole-filling:{hole_filling.SHARE}:{hole_filling.RING}"
        if self.given_trimap:
            tag += f":laplacian-refinement:{PRIOR_WEIGHT}"
        return hashlib.sha256(tag.encode()).hexdigest()

    def load(self, threads: int = 1) -> None:
        from alphanet_tf.inference import Matter

        super().load(threads)
        self.matter = Matter(self.path, threads=threads, fg_estimation=False)

    def outputs(self, image, trimap=None):
        out = self.matter.predict(image, trimap)
        return {k: clip_alpha(v) for k, v in out.items() if v is not None}

    def _keras_model(self):
        return getattr(self.matter.runtime, "model", None)

    def params(self):
        model = self._keras_model()
        return None if model is None else int(model.count_params())

    def cost(self, image, trimap=None):
        from alphanet_tf.preprocess import prepare, prepare_map

        if self.runtime == "litert":
            return tflite_cost(self.path)  # at the model's fixed input size
        model = self._keras_model()
        if model is None:
            return {"gflops": None, "params": None}
        x, geom = prepare(np.asarray(image))
        if trimap is None:
            return {"gflops": keras_gflops(model, [x[None]]), "params": self.params()}
        t = prepare_map(np.asarray(trimap, np.float32), geom)[None, ..., None]
        matting = model.get_layer("matting_net")
        return {"gflops": keras_gflops(matting, [x[None], t]), "params": int(matting.count_params())}

    def close(self):
        self.matter = None


def trimap_model(model):
    """The segmentation + ED-trimap half of a Keras AlphaNet (no matting net): {"alpha" = "trimap",
    "segmentation"}. A model without those layers is returned whole."""
    import keras

    try:
        trimap, seg = model.get_layer("trimap").output, model.get_layer("segmentation").output
    except ValueError:
        return model
    return keras.Model(model.input, {"alpha": trimap, "trimap": trimap, "segmentation": seg},
                       name=f"{model.name}_trimap")


SOLVERS = {"closed-form": "estimate_alpha_cf", "knn": "estimate_alpha_knn"}


class SegmentationPymatting(Method):
    """Our segmentation + ED trimap, then pymatting on that trimap (the paper's DeepLabV3+ + CF rows)."""

    task = "our segmentation + ED trimap + trimap-based solver"
    license = "Apache-2.0 (ours) + pymatting MIT"
    runtime = "tensorflow (Keras) + pymatting"
    ours = True
    tasks = ("matting",)  # its segmentation is AlphaNet's own: scored there

    def __init__(self, model="default", solver="closed-form", name=None, slug=None):
        from alphanet_tf.bundle import ModelError, resolve_model_path

        if solver not in SOLVERS:
            raise ValueError(f"solver must be one of {sorted(SOLVERS)}, got {solver!r}")
        name = name or f"AlphaNet seg + ED + {solver}"
        super().__init__(model=str(model), solver=solver, name=name, slug=slug)
        self.path = resolve_model_path(model)
        if engine(self.path) != "tensorflow (Keras)":
            raise ModelError(f"{self.path}: segmentation + {solver} needs a .keras AlphaNet")
        self.solver, self.name, self.slug = solver, name, slug or slugify(name)

    def files(self):
        return model_files(self.path)

    def fingerprint(self) -> str:
        import pymatting

        return f"{model_fingerprint(self.path)}/pymatting-{pymatting.__version__}/{self.solver}"

    def load(self, threads: int = 1) -> None:
        import pymatting

        from alphanet_tf.inference import Matter
        from alphanet_tf.runtimes import KerasRuntime

        super().load(threads)
        full = KerasRuntime(self.path, threads)  # first TF use: fixes TensorFlow's thread count
        self.model = trimap_model(full.model)
        self.matter = Matter(KerasRuntime(self.model, name=f"{self.slug}-trimap"), fg_estimation=False)
        set_numba_threads(threads)
        self.estimate = getattr(pymatting, SOLVERS[self.solver])

    def outputs(self, image, trimap=None):
        out = self.matter.predict(image)
        trimap = out["trimap"]
        return {"alpha": solve(self.estimate, image, trimap), "trimap": clip_alpha(trimap)}

    def params(self):
        return int(self.model.count_params())

    def close(self):
        self.matter = self.model = None


def find_artifacts(folder) -> list[Path]:
    """Every .tflite file and SavedModel folder under `folder` (as `alphanet export` writes them)."""
    folder = Path(folder)
    tflites = sorted(folder.rglob("*.tflite"))
    saved = sorted(p.parent for p in folder.rglob("saved_model.pb"))
    return tflites + saved


def artifact_method(path: Path, root: Path) -> AlphaNet:
    """An AlphaNet method named after the artifact: "alphanet_int8_ptq (tflite)", "SavedModel alphanet/1"."""
    path = Path(path)
    if path.suffix.lower() == ".tflite":
        name = f"{path.stem} (tflite)"
    else:
        rel = path.relative_to(root).as_posix() if path != Path(root) else ""
        rel = rel.removeprefix("savedmodel/")  # export's layout: savedmodel/alphanet/<version>
        name = f"SavedModel {rel}".strip()
    return AlphaNet(path, name=name)
