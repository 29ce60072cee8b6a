"""The one interface every benchmarked method has, so the runner never cares what is behind it.

A method maps a uint8 RGB image (H, W, 3) -- and for trimap-based methods a trimap float32 (H, W) in
{0, 0.5, 1} -- to an alpha float32 (H, W) in [0, 1] at the image's size. It is built cheaply (no model load),
loaded with a thread count (``load``), and can be rebuilt in a worker process from ``spec()`` (the speed
benchmark runs every method in its own process: TensorFlow fixes its thread count at start, and peak memory is
per process).

    method = SomeMethod()
    method.load(threads=1)
    alpha = method.predict(image)              # automatic
    alpha = method.predict(image, trimap)      # kind "trimap", or given_trimap=True
"""

from __future__ import annotations

import importlib
import re

import numpy as np

AUTO, TRIMAP = "auto", "trimap"


def slugify(text: str) -> str:
    """A folder-safe id: lower case, runs of other characters become '-'."""
    return re.sub(r"[^a-z0-9._]+", "-", text.lower()).strip("-") or "method"


class Method:
    """Base class. Subclasses override ``load`` and ``predict`` (or ``outputs``, for several maps).

    Attributes:
        name: display name in the tables.
        slug: id for ``--methods``, the cache and results.json.
        kind: "automatic" (image -> alpha) or "trimap" (needs a trimap).
        given_trimap: an automatic method that can also take a trimap (AlphaNet's matting stage, Table II).
        task: what the method was made for (portrait matting, salient objects, ...).
        license: licence of the weights, as far as we know (peers are measured, never shipped).
        runtime: the engine (onnxruntime, litert, tensorflow, pymatting/numba).
        people_only: trained for people; scores on objects are reported but flagged.
        ours: one of our models (alphanet_tf), else a peer.
        tasks: the kinds of sets it runs on ("matting", "segmentation").
    """

    name = "method"
    slug = ""
    kind = "automatic"
    given_trimap = False
    task = ""
    license = ""
    runtime = ""
    people_only = False
    ours = False
    tasks = ("matting", "segmentation")

    def __init__(self, **kwargs):
        self._kwargs = kwargs
        self.threads = None
        if not self.slug:
            self.slug = slugify(self.name)

    # -------------------------------------------------------------------------------------- identity
    def spec(self) -> dict:
        """What a worker process needs to rebuild this method (JSON-ready)."""
        cls = type(self)
        return {"factory": f"{cls.__module__}:{cls.__qualname__}", "kwargs": dict(self._kwargs)}

    def files(self) -> list:
        """The model files this method reads (for size and fingerprint); checked when called."""
        return []

    def fingerprint(self) -> str:
        """Changes whenever the predictions could change (weights, pre-processing version)."""
        return "v1"

    def describe(self) -> dict:
        return {"name": self.name, "slug": self.slug, "kind": self.kind, "given_trimap": self.given_trimap,
                "task": self.task, "license": self.license, "runtime": self.runtime,
                "people_only": self.people_only, "ours": self.ours}

    @property
    def modes(self) -> tuple[str, ...]:
        """"auto" for automatic methods, "trimap" for methods that take a trimap (both for AlphaNet)."""
        if self.kind == "trimap":
            return (TRIMAP,)
        return (AUTO, TRIMAP) if self.given_trimap else (AUTO,)

    # -------------------------------------------------------------------------------------- running
    def load(self, threads: int = 1) -> None:
        """Builds sessions / loads weights with this many CPU threads."""
        self.threads = threads

    def predict(self, image: np.ndarray, trimap: np.ndarray | None = None) -> np.ndarray:
        """alpha float32 (H, W) in [0, 1] at the image's size."""
        return self.outputs(image, trimap)["alpha"]

    def outputs(self, image: np.ndarray, trimap: np.ndarray | None = None) -> dict:
        """{"alpha", optionally "trimap", "segmentation"}: float32 (H, W) maps at the image's size."""
        if type(self).predict is Method.predict:
            raise NotImplementedError(f"{type(self).__name__} implements neither predict nor outputs")
        return {"alpha": self.predict(image, trimap)}

    def params(self) -> int | None:
        """Number of weights, when known without running (Keras); else from ``cost``."""
        return None

    def cost(self, image: np.ndarray, trimap: np.ndarray | None = None) -> dict:
        """{"gflops", "params"} of one call on this image, where computable (None otherwise)."""
        return {"gflops": None, "params": self.params()}

    def close(self) -> None:
        """Frees the loaded model (the runner loads one method at a time)."""


def build(spec: dict) -> Method:
    """Rebuilds a method from ``Method.spec()``."""
    module, _, qualname = spec["factory"].partition(":")
    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj(**spec.get("kwargs", {}))


def clip_alpha(x) -> np.ndarray:
    """float32 (H, W) in [0, 1] from any (H, W) or (H, W, 1) array."""
    a = np.asarray(x, np.float32)
    if a.ndim == 3:
        a = a[..., 0]
    return np.clip(a, 0.0, 1.0)
