"""The project's error type: what a user sees when their input is wrong."""

from __future__ import annotations

from pathlib import Path


class MultiposeError(ValueError):
    """Bad input, described for the user; `path` names the file at fault when there is one."""

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        self.path = None if path is None else Path(path)
        super().__init__(f"{path}: {message}" if path is not None else message)
