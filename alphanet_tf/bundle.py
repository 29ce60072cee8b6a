"""Which model is this: the one place that turns ``"default"`` or a path into a model's files.

A model is a ``.keras`` file, a ``.tflite`` file or a SavedModel folder, optionally with a manifest beside
it, ``<stem>.json``, that names the files which belong to it:

    {"trimap_net": "alphanet_trimap.npz"}

``trimap_net`` is the packed matting net for given (hand-drawn) trimaps (``alphanet_tf.packed_weights``),
relative to the manifest's folder; a Keras AlphaNet without one mattes given trimaps with its own matting
net. The shipped default model is ``assets/alphanet_default.keras`` with ``assets/alphanet_default.json``,
so a copy of the three files anywhere is the same model. ``resolve`` never loads TensorFlow.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

ASSETS = Path(__file__).resolve().parent / "assets"
DEFAULT_MODEL = ASSETS / "alphanet_default.keras"
FORMATS = {".keras": "keras", ".tflite": "tflite"}


class ModelError(RuntimeError):
    """A model that cannot be found, loaded or run as asked; `str()` is one line."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


@dataclass(frozen=True)
class Bundle:
    """A resolved model: its main file or folder, its format and the files that belong with it."""

    path: Path
    format: str  # "keras", "tflite" or "savedmodel"
    trimap_net: Path | None = None

    @property
    def files(self) -> list[Path]:
        """Every file whose bytes make the model (what a fingerprint hashes): the main file and its
        given-trimap net, or every file of a SavedModel folder (sorted)."""
        if self.path.is_dir():
            return sorted(p for p in self.path.rglob("*") if p.is_file())
        return [self.path] + ([self.trimap_net] if self.trimap_net else [])


def manifest_path(path) -> Path:
    return Path(path).with_suffix(".json")


def read_manifest(path) -> dict:
    """The manifest beside a model file (empty when there is none); a broken one is a one-line ModelError."""
    manifest = manifest_path(path)
    if not manifest.is_file():
        return {}
    try:
        data = json.loads(manifest.read_text())
    except (OSError, ValueError) as error:
        raise ModelError(f"{manifest}: cannot read the model manifest ({error})") from None
    if not isinstance(data, dict):
        raise ModelError(f"{manifest}: the model manifest must be a JSON object")
    return data


def write_manifest(path, trimap_net=None) -> Path:
    """Writes ``<stem>.json`` beside the model file `path` (atomically); `trimap_net` must lie in its folder."""
    manifest = manifest_path(path)
    data = {}
    if trimap_net is not None:
        trimap_net = Path(trimap_net)
        if trimap_net.resolve().parent != manifest.resolve().parent:
            raise ValueError(f"{trimap_net}: the given-trimap net must lie beside {path}")
        data["trimap_net"] = trimap_net.name
    tmp = manifest.with_name(manifest.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    tmp.replace(manifest)
    return manifest


def resolve_model_path(model) -> Path:
    """'default' -> the shipped asset; otherwise the path, which must exist."""
    if str(model) == "default":
        if not DEFAULT_MODEL.exists():
            raise ModelError(
                f"the default model is missing ({DEFAULT_MODEL} is not installed); "
                "pass a model file with --model PATH (.keras, .tflite or a SavedModel folder)"
            )
        return DEFAULT_MODEL
    path = Path(model)
    if not path.exists():
        raise ModelError(f"{path}: model not found")
    return path


def resolve(model) -> Bundle:
    """The Bundle of 'default' or a path. Raises ModelError (one line): missing file or given-trimap net
    named by the manifest, a folder that is not a SavedModel, an unknown format."""
    path = resolve_model_path(model)
    if path.is_dir():
        if not (path / "saved_model.pb").exists():
            raise ModelError(f"{path}: a folder but not a SavedModel (no saved_model.pb)")
        return Bundle(path, "savedmodel")
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        expected = "expected .keras, .tflite or a SavedModel folder"
        raise ModelError(f"{path}: unknown model format {suffix or '(no suffix)'!r} ({expected})")
    trimap_net = None
    name = read_manifest(path).get("trimap_net")
    if name and FORMATS[suffix] == "keras":
        trimap_net = path.parent / name
        if not trimap_net.is_file():
            raise ModelError(f"{manifest_path(path)}: its given-trimap net {trimap_net} is missing")
    return Bundle(path, FORMATS[suffix], trimap_net)
