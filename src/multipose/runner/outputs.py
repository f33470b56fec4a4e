"""What a job writes for each image or frame, and where."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from multipose.errors import MultiposeError
from multipose.io.coco import read_coco_results, write_coco_results
from multipose.io.csv_file import Row, write_csv
from multipose.io.files import locked
from multipose.io.media import write_image
from multipose.io.openpose_json import write_openpose_json
from multipose.poses import Poses
from multipose.render import draw
from multipose.runner.register import Entry, register

COCO_FILE = "coco_results.json"


@dataclass
class Outputs:
    """Where and what a job writes: OpenPose JSON per image or frame (`<stem>_keypoints.json`,
    in `layout`, a model spec's `output_layout`), COCO results (`coco_results.json` for the
    images, merged with what is there; one file per video), CSV (`poses.csv` for the images,
    `<stem>.csv` per video; see `io.csv_file`) and overlays (`<stem>_rendered.png`, or an .mp4
    per video)."""

    folder: Path
    openpose: bool = True
    coco: bool = True
    render: bool = False
    layout: str = "coco18"
    csv: bool = False

    def keypoints_path(self, name: str) -> Path:
        return self.folder / f"{name}_keypoints.json"

    def overlay_path(self, name: str) -> Path:
        return self.folder / f"{name}_rendered.png"

    def done(self, name: str) -> bool:
        """Whether every output asked for of the image called `name` is there (never without
        OpenPose JSON, which is what a resumed job reads its people back from)."""
        return (
            self.openpose
            and self.keypoints_path(name).is_file()
            and (not self.render or self.overlay_path(name).is_file())
        )

    def prepare(self) -> None:
        """The folder made, if need be; a folder that cannot be, or a COCO results file there
        that cannot be merged with, is a `MultiposeError` (before a job loads its model)."""
        if self.folder.exists() and not self.folder.is_dir():
            raise MultiposeError("is a file, not a folder to write the outputs into", self.folder)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise MultiposeError(
                f"cannot make the output folder ({exc.strerror})", self.folder
            ) from None
        if self.coco and (self.folder / COCO_FILE).exists():
            read_coco_results(self.folder / COCO_FILE)

    def register(self, paths: Sequence[Path]) -> list[Entry]:
        """The image id and output name of each image file (see `runner.register`)."""
        return register(self.folder, list(paths))

    def write(self, name: str, image: np.ndarray, people: Poses, ids: bool = False) -> None:
        """The OpenPose JSON and the overlay of one image or frame called `name`."""
        if self.openpose:
            write_openpose_json(self.keypoints_path(name), people.convert(self.layout), self.layout)
        if self.render:
            write_image(self.overlay_path(name), draw(image, people, 0.05, ids=ids))

    def write_coco(self, results: list[dict], stem: str) -> None:
        """The COCO results of the video `stem` (`<stem>_coco_results.json`, image ids = frame
        numbers)."""
        if self.coco:
            write_coco_results(self.folder / f"{stem}_coco_results.json", results)

    def merge_coco(self, results: list[dict], ids: set[int]) -> None:
        """The COCO results of a job's images, in place of any that `coco_results.json` holds
        for images `ids`, beside those it holds for other images (under the folder's lock, so
        that jobs sharing the folder keep each other's results)."""
        if not self.coco:
            return
        path = self.folder / COCO_FILE
        with locked(self.folder):
            there = read_coco_results(path) if path.exists() else []
            ours = [isinstance(r["image_id"], int) and r["image_id"] in ids for r in there]
            kept = [r for r, replaced in zip(there, ours, strict=True) if not replaced]
            write_coco_results(path, kept + results)

    def write_csv(self, rows: list[Row], stem: str = "") -> None:
        """The CSV of the job's images (`poses.csv`) or of the video `stem` (`<stem>.csv`)."""
        if self.csv:
            write_csv(self.folder / f"{stem or 'poses'}.csv", self.layout, rows)
