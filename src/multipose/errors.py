"""The project's error type (what a user sees when their input is wrong), and `quiet`: the
libraries' chatter kept from them."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# `warnings.catch_warnings` swaps the process's filters on the way in and back on the way out:
# two threads inside it at once (an image read beside an export) restore each other's, leaving
# warnings on inside one of them or off for good. So one thread at a time.
_QUIET = threading.RLock()


@contextmanager
def quiet() -> Iterator[None]:
    """Warnings ignored inside (tracer and exporter chatter, Pillow's notes on damaged EXIF
    data, torch's on pickle protocols), one thread at a time."""
    with _QUIET, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


class MultiposeError(ValueError):
    """Bad input, described for the user; `path` names the file at fault when there is one."""

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        self.path = None if path is None else Path(path)
        super().__init__(f"{path}: {message}" if path is not None else message)
