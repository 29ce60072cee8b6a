"""Where the data and the derived-data cache live.

* Data root: the ``ALPHANET_DATA`` environment variable, or else the ``shared/data`` folder beside the
  repository (``<repo>/../shared/data``, repository root = the parent of ``training/``).
* Cache: the ``ALPHANET_CACHE`` environment variable, or else ``<repo>/.cache`` (git-ignored). It holds data
  *derived* from the shared data once (alphamatting foreground colours, people pseudo-labels).
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
FETCH_HINT = "run `../shared/fetch.sh data` (from the repository root) to fetch it"

# Folders `fetch.sh data` adds (not committed to shared/); everything else ships with shared/.
FETCHED = ("cutouts", "backgrounds/debian")


class DataNotFoundError(FileNotFoundError):
    """A data folder or file the pipeline needs does not exist."""


def run_cli(main, argv=None) -> int:
    """Runs a label script's `main`; missing data or teacher files end it with a one-line error, exit 2."""
    try:
        return main(argv)
    except DataNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def data_root(data_root: str | os.PathLike | None = None) -> Path:
    """The data root: ``data_root`` if given, else ``$ALPHANET_DATA``, else ``<repo>/../shared/data``.

    Raises:
        DataNotFoundError: the folder does not exist (the message names the path).
    """
    if data_root is None:
        env = os.environ.get("ALPHANET_DATA")
        root = Path(env) if env else REPO_ROOT.parent / "shared" / "data"
        how = "$ALPHANET_DATA" if env else "default <repo>/../shared/data"
    else:
        root, how = Path(data_root), "data_root argument"
    root = root.expanduser()
    if not root.is_dir():
        raise DataNotFoundError(
            f"alphanet data root not found: {root} ({how}). Point ALPHANET_DATA at the shared data folder "
            f"(shared/data beside the repository, see ../shared/README.md)."
        )
    return root.resolve()


def cache_dir(create: bool = True) -> Path:
    """The cache folder: ``$ALPHANET_CACHE`` or ``<repo>/.cache``."""
    env = os.environ.get("ALPHANET_CACHE")
    path = Path(env).expanduser() if env else REPO_ROOT / ".cache"
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def require_dir(root: Path, rel: str) -> Path:
    """``root / rel``, which must exist; the error names the path (and the fetch command if relevant)."""
    path = Path(root) / rel
    if not path.is_dir():
        hint = FETCH_HINT if any(rel == f or rel.startswith(f + "/") for f in FETCHED) else (
            "it ships with shared/data; check ALPHANET_DATA / the data_root argument")
        raise DataNotFoundError(f"data folder not found: {path}; {hint}")
    return path


def optional_dir(root: Path, rel: str) -> Path | None:
    """``root / rel`` if it exists, else None with a warning saying how to fetch it."""
    path = Path(root) / rel
    if path.is_dir():
        return path
    hint = FETCH_HINT if rel in FETCHED else "continuing without it"
    warnings.warn(f"optional data folder missing: {path}; {hint}. Continuing without it.", stacklevel=2)
    return None
