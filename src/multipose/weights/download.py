"""Weights from an address: downloaded once into the user cache directory (`MULTIPOSE_CACHE`,
else ~/.cache/multipose), through a temporary file renamed only once it is whole and its
sha256 matches, and used from there afterwards without touching the network. An expected
sha256 is the full digest (64 hex digits) or a prefix of at least 8, as torch.hub and
OpenMMLab put in file names."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import re
import urllib.error
import urllib.request
from pathlib import Path

from rich.progress import Progress

from multipose.errors import MultiposeError
from multipose.io.files import cache_dir, replacing


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_atomic(path: Path, data: bytes) -> None:
    """Write through a temporary file, so that `path` is never left half-written."""
    with replacing(path) as part:
        part.write_bytes(data)


def fetch(url: str, sha256: str | None = None, name: str | None = None) -> Path:
    """The cached file of `url` (downloaded if absent), checked against `sha256` if given: a
    cached file that fails the check is removed and downloaded again. `name` is the file's name
    in the cache (a spec's published file); without it the file is kept under its address
    (`urls/<a digest of the address>/<its file name>`), so that two addresses never share a
    file and none takes the place of a published one. A download is renamed into place only
    once it has the length the server announced and the expected sha256."""
    if sha256 is not None:
        sha256 = sha256.lower()
        if not re.fullmatch(r"[0-9a-f]{8,64}", sha256):
            raise MultiposeError(
                f"expected sha256 {sha256!r} of {url} is not 8 to 64 hex digits (a digest or its "
                "prefix)"
            )
    if name is None:
        address = hashlib.sha256(url.encode()).hexdigest()[:16]
        file_name = Path(urllib.request.urlparse(url).path).name or "weights"
        target = cache_dir() / "urls" / address / file_name
    else:
        target = cache_dir() / name
    if target.is_file():
        if sha256 is None or sha256_of(target).startswith(sha256):
            return target
        target.unlink()
    try:
        with replacing(target) as tmp:
            _download(url, tmp, target.name)
            if sha256 is not None and not (actual := sha256_of(tmp)).startswith(sha256):
                expected = sha256 if len(sha256) == 64 else f"{sha256}... (a prefix)"
                raise MultiposeError(f"download of {url} has sha256 {actual}, expected {expected}")
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        raise MultiposeError(f"could not download {url} ({exc})") from None
    finally:
        if name is None and not target.exists():  # no empty folders left for an address
            for folder in (target.parent, target.parent.parent):
                with contextlib.suppress(OSError):
                    folder.rmdir()
    return target


def _download(url: str, path: Path, label: str) -> None:
    """The body of `url` into `path`; one shorter than its Content-Length is a MultiposeError."""
    with path.open("wb") as out, urllib.request.urlopen(url, timeout=60) as response:
        total = int(response.headers.get("Content-Length") or 0) or None
        received = 0
        with Progress(transient=True) as progress:
            task = progress.add_task(f"downloading {label}", total=total)
            for block in iter(lambda: response.read(1 << 20), b""):
                out.write(block)
                received += len(block)
                progress.advance(task, len(block))
    if total is not None and received != total:
        raise MultiposeError(
            f"download of {url} broke off after {received} of its {total} bytes; run again"
        )


def given_or_cached(weights: str | Path | None, cached: Path, missing: str) -> Path:
    """A weights file: `weights` (the file, or a folder holding one named as `cached`), else
    `cached`, whose absence is a `MultiposeError` saying `missing`."""
    if weights is not None:
        path = Path(weights)
        path = path / cached.name if path.is_dir() else path
        if not path.is_file():
            raise MultiposeError("no such weights file", path)
        return path
    if not cached.is_file():
        raise MultiposeError(missing)
    return cached


def resolve(weights: str | Path, file_name: str = "") -> Path:
    """A weights file from a path, a folder holding `file_name`, or an http(s) address."""
    text = str(weights)
    if text.startswith(("http://", "https://")):
        return fetch(text)
    path = Path(text)
    if path.is_dir():
        if not file_name or not (path / file_name).is_file():
            raise MultiposeError(f"no {file_name or 'weights file'} in this folder", path)
        return path / file_name
    if not path.is_file():
        raise MultiposeError("no such weights file", path)
    return path
