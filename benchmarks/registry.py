"""Which methods a run benchmarks: the peers, then ours (AlphaNet, its ablations, its exported artifacts,
segmentation + pymatting), filtered by `--methods` / `--skip` (slugs, or a prefix ending in '*')."""

from __future__ import annotations

import fnmatch
from pathlib import Path

from benchmarks.methods import Method, slugify
from benchmarks.ours import SOLVERS, AlphaNet, SegmentationPymatting, artifact_method, find_artifacts
from benchmarks.peers import PEERS


class SelectionError(ValueError):
    """A --methods / --skip / --ablation value that names nothing, or two methods with one slug."""


def _parse_name_path(text: str, option: str = "--ablation") -> tuple[str, str]:
    name, sep, path = text.partition("=")
    if not sep or not name.strip() or not path.strip():
        raise SelectionError(f"{option} must be NAME=PATH, got {text!r}")
    return name.strip(), path.strip()


def _ours(model: str, ablations, artifacts, hatt=()):
    """(slug, factory) of every method of ours: built only if selected (loading checks the file)."""
    out = [("alphanet", lambda: AlphaNet(model, name="AlphaNet"))]
    for solver in SOLVERS:
        out.append((slugify(f"alphanet-seg-{solver}"),
                    lambda s=solver: SegmentationPymatting(model, s, slug=slugify(f"alphanet-seg-{s}"))))
    for text in ablations or ():
        name, path = _parse_name_path(text)
        slug = slugify(f"alphanet-{name}")
        out.append((slug, lambda n=name, p=path, s=slug: AlphaNet(p, name=f"AlphaNet ({n})", slug=s)))
    for text in hatt or ():
        name, path = _parse_name_path(text, "--hatt")
        slug = slugify(name)
        out.append((slug, lambda n=name, p=path, s=slug: AlphaNet(p, name=n, slug=s)))
    if artifacts:
        root = Path(artifacts)
        if not root.is_dir():
            raise FileNotFoundError(f"artifacts folder not found: {root}")
        for path in find_artifacts(root):
            method = artifact_method(path, root)
            out.append((method.slug, lambda m=method: m))
    return out


def _matches(slug: str, patterns) -> bool:
    return any(fnmatch.fnmatch(slug, p) for p in patterns)


def select_methods(model="default", ablations=(), artifacts=None, methods=None, skip=(), hatt=()) -> list[Method]:
    """The methods of a run, in table order. `methods` None means all."""
    candidates = [(p.slug, p) for p in PEERS] + _ours(model, ablations, artifacts, hatt)
    slugs = [s for s, _ in candidates]
    duplicates = sorted({s for s in slugs if slugs.count(s) > 1})
    if duplicates:
        raise SelectionError(f"two methods share the id {duplicates[0]!r}: rename the ablation")
    for option, patterns in (("--methods", methods or ()), ("--skip", skip or ())):
        for p in patterns:
            if not any(fnmatch.fnmatch(s, p) for s in slugs):
                raise SelectionError(f"{option} {p!r} matches no method; known: {', '.join(slugs)}")
    chosen = [(s, f) for s, f in candidates
              if (methods is None or _matches(s, methods)) and not _matches(s, skip or ())]
    return [factory() for _, factory in chosen]
