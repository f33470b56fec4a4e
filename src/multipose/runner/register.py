"""Each input image's COCO image id and output name, unique in its output folder and kept there
in `coco_images.json` (COCO's "images" list: id, file_name, and the image's absolute path and
output name), so that ids and names stay the same on `--resume` and across the jobs that write
into one folder.

An image named as in COCO (`000000397133.jpg`, `COCO_val2014_000000000536.jpg`) gets its COCO
id; any other image, or a COCO name whose id the folder has given to another file, gets an id
from 10**12 up (past COCO's 12 digits). Its outputs are named by its stem, or where another file
of the folder has that name, by its stem and extension (`pic_png`), then a number."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from multipose.errors import MultiposeError
from multipose.io.files import locked
from multipose.io.jsonfile import read_json, write_json

IMAGES_FILE = "coco_images.json"
FIRST_OTHER_ID = 10**12
_COCO_NAME = re.compile(r"(?:COCO_[A-Za-z]+\d{4}_)?(\d{12})")


@dataclass(frozen=True)
class Entry:
    """An input image: its path, COCO image id and the stem of its output files."""

    path: Path
    id: int
    name: str


def coco_id(path: Path) -> int | None:
    """The COCO image id of a file named as in COCO, else None."""
    match = _COCO_NAME.fullmatch(path.stem)
    return int(match[1]) if match else None


def register(folder: Path, paths: list[Path]) -> list[Entry]:
    """The entries of `paths` in the output folder `folder`: those it holds already, the others
    added (under the folder's lock, so that jobs sharing it never give one id or name twice)."""
    with locked(folder):
        file = folder / IMAGES_FILE
        records = _read(file) if file.exists() else []
        by_path = {r["path"]: r for r in records}
        ids = {r["id"] for r in records}
        names = {r["name"] for r in records}
        entries, added = [], False
        for path in paths:
            key = os.path.abspath(path)
            if key not in by_path:
                ident = coco_id(path)
                if ident is None or ident in ids:
                    ident = max(ids | {FIRST_OTHER_ID - 1}) + 1
                name = free_name(path, names)
                by_path[key] = {"id": ident, "file_name": path.name, "path": key, "name": name}
                records.append(by_path[key])
                ids.add(ident)
                names.add(name)
                added = True
            record = by_path[key]
            entries.append(Entry(path, record["id"], record["name"]))
        if added:
            write_json(file, records, indent=1)
        return entries


def free_name(path: Path, taken: set[str]) -> str:
    """`path`'s stem, else stem_extension, else that with _2, _3, ...: the first not `taken`."""
    for name in (path.stem, f"{path.stem}_{path.suffix.lstrip('.').lower()}"):
        if name not in taken:
            return name
    number = 2
    while f"{name}_{number}" in taken:
        number += 1
    return f"{name}_{number}"


def _read(file: Path) -> list[dict]:
    records = read_json(file)
    if not isinstance(records, list) or not all(
        isinstance(r, dict)
        and isinstance(r.get("id"), int)
        and isinstance(r.get("path"), str)
        and isinstance(r.get("name"), str)
        for r in records
    ):
        raise MultiposeError(
            "not the image list of a multipose job (id, file_name, path and name per image); "
            "move it away or write into another folder",
            file,
        )
    return records
