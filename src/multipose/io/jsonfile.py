"""JSON files read with errors that name the file, and written atomically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from multipose.errors import MultiposeError
from multipose.io.files import replacing


def read_json(path: str | Path) -> Any:
    """Parse a JSON file; a missing, empty or malformed file raises `MultiposeError`."""
    path = Path(path)
    if not path.is_file():
        raise MultiposeError("no such file", path)
    text = path.read_text(encoding="utf-8", errors="replace")
    if not text.strip():
        raise MultiposeError("file is empty", path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise MultiposeError(
            f"not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})", path
        ) from None


def write_json(path: str | Path, data: Any, indent: int | None = None) -> None:
    """Write JSON through a temporary file and a rename, so a reader never sees half a file
    (mode 0666 less the umask)."""
    with replacing(path) as tmp, tmp.open("w", encoding="utf-8") as f:
        json.dump(data, f, indent=indent)
