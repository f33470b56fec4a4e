"""What a job writes for each image or frame, and where."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from multipose.io.coco import write_coco_results
from multipose.io.csv_file import Row, write_csv
from multipose.io.media import write_image
from multipose.io.openpose_json import openpose_json_path, write_openpose_json
from multipose.poses import Poses
from multipose.render import draw


@dataclass
class Outputs:
    """Where and what a job writes: OpenPose JSON per image or frame (`<stem>_keypoints.json`,
    in `layout`, a model spec's `output_layout`), COCO results (`coco_results.json` for the
    images, one file per video), CSV (`poses.csv` for the images, `<stem>.csv` per video; see
    `io.csv_file`) and overlays (`<stem>_rendered.png`, or an .mp4 per video)."""

    folder: Path
    openpose: bool = True
    coco: bool = True
    render: bool = False
    layout: str = "coco18"
    csv: bool = False

    def keypoints_path(self, source: Path | str) -> Path:
        return openpose_json_path(self.folder, source)

    def write(self, name: str, image: np.ndarray, people: Poses, ids: bool = False) -> None:
        """The OpenPose JSON and the overlay of one image or frame called `name`."""
        if self.openpose:
            path = self.folder / f"{name}_keypoints.json"
            write_openpose_json(path, people.convert(self.layout), self.layout)
        if self.render:
            write_image(self.folder / f"{name}_rendered.png", draw(image, people, 0.05, ids=ids))

    def write_coco(self, results: list[dict], stem: str = "") -> None:
        """The COCO results of the job's images (`coco_results.json`), or of the video `stem`
        (`<stem>_coco_results.json`, image ids = frame numbers)."""
        if self.coco:
            name = f"{stem}_coco_results.json" if stem else "coco_results.json"
            write_coco_results(self.folder / name, results)

    def write_csv(self, rows: list[Row], stem: str = "") -> None:
        """The CSV of the job's images (`poses.csv`) or of the video `stem` (`<stem>.csv`)."""
        if self.csv:
            write_csv(self.folder / f"{stem or 'poses'}.csv", self.layout, rows)
