"""Files written whole or not at all, with the permissions the umask gives, a lock for jobs
that share a folder, and the user's cache folder."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def cache_dir() -> Path:
    """Where multipose keeps what it downloads and makes once (weights, ONNX exports):
    $MULTIPOSE_CACHE, else ~/.cache/multipose."""
    return Path(os.environ.get("MULTIPOSE_CACHE", Path.home() / ".cache" / "multipose"))


@contextmanager
def replacing(path: str | Path) -> Iterator[Path]:
    """A temporary file beside `path` to write, renamed onto `path` when the block ends (and
    removed if it raises), so that a reader never sees half a file. It is created with mode
    0666 less the umask, as `open` would create `path` itself; its name (`.<name>.<random>.tmp`)
    is hidden and ends otherwise than `path`'s, so that a reader of a folder's `*.json` never
    takes one that a killed process left for a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def locked(folder: str | Path) -> Iterator[None]:
    """Holds an exclusive lock on `folder` (its `.multipose.lock` file) for the block: jobs that
    write the same files there take turns. Where the system has no `fcntl`, no lock."""
    try:
        import fcntl
    except ImportError:  # Windows
        yield
        return
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / ".multipose.lock", os.O_CREAT | os.O_RDWR, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
