"""People as CSV, one row per person per image or video frame: the file, the frame number
and its time in ms (empty for images), the person's id (its track id in a tracked video, else
its place in the image), its score, then x, y and score per keypoint in named columns (x and y
empty where the keypoint was not found)."""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from multipose.poses import Poses
from multipose.skeleton import Layout, get_layout

Row = list[str | int | float]


def csv_header(layout: Layout | str) -> list[str]:
    names = get_layout(layout).keypoints
    return ["file", "frame", "time_ms", "id", "score"] + [
        f"{name}_{part}" for name in names for part in ("x", "y", "score")
    ]


def csv_rows(
    file: str, people: Poses, layout: Layout | str, frame: int | None = None, time_ms: float = 0.0
) -> list[Row]:
    """The rows of one image (`frame` None) or video frame, its people in `layout`."""
    people = people.convert(layout)
    ids = people.track_ids
    rows = []
    for person, (keypoints, score) in enumerate(zip(people.keypoints, people.scores, strict=True)):
        track = int(ids[person]) if ids is not None and ids[person] >= 0 else person
        row: Row = [
            file,
            "" if frame is None else frame,
            "" if frame is None else round(time_ms, 3),
        ]
        row += [track, round(float(score), 4)]
        for x, y, s in keypoints.tolist():
            row += [round(x, 2), round(y, 2), round(s, 4)] if s > 0 else ["", "", 0]
        rows.append(row)
    return rows


def write_csv(path: str | Path, layout: Layout | str, rows: Sequence[Row]) -> None:
    """The header and rows, written through a temporary file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(csv_header(layout))
            writer.writerows(rows)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
