"""Poses of one image from any poses file a user may hold: OpenPose JSON, COCO results or a
COCO annotation file."""

from __future__ import annotations

import re
from pathlib import Path

from multipose.errors import MultiposeError
from multipose.io.coco import CocoDataset, read_coco_results, results_by_image
from multipose.io.jsonfile import read_json
from multipose.poses import Poses


def load_poses_for_image(
    poses_file: str | Path, image_path: str | Path, image_id: int | None = None
) -> Poses:
    """The people of the image at `image_path` as stored in `poses_file`.

    COCO files are matched to the image by `image_id`, else by file name (annotations) or by
    the number in the file name (results, as in COCO's `000000397133.jpg`)."""
    poses_file, image_path = Path(poses_file), Path(image_path)
    data = read_json(poses_file)
    if isinstance(data, dict) and "people" in data:
        try:
            return Poses.from_openpose(data)
        except MultiposeError as exc:
            raise MultiposeError(str(exc), poses_file) from None
    if isinstance(data, dict) and "annotations" in data:
        dataset = CocoDataset(poses_file)
        if image_id is None:
            record = dataset.find_image(image_path.name)
            if record is None:
                raise MultiposeError(f"no image named {image_path.name} in it", poses_file)
            image_id = record.id
        elif image_id not in dataset.images:
            raise MultiposeError(f"no image with id {image_id} in it", poses_file)
        return dataset.people(image_id)
    if isinstance(data, list):
        by_image = results_by_image(read_coco_results(poses_file))
        if image_id is None:
            image_id = _image_id_from_name(image_path, set(by_image), poses_file)
        return by_image.get(image_id) or Poses.empty()
    raise MultiposeError(
        "not a poses file (expected OpenPose JSON, COCO results or COCO annotations)", poses_file
    )


def _image_id_from_name(image_path: Path, known: set[int], poses_file: Path) -> int:
    if len(known) == 1:
        return next(iter(known))
    digits = re.findall(r"\d+", image_path.stem)
    if digits and int(digits[-1]) in known:
        return int(digits[-1])
    raise MultiposeError(
        f"results for several images and none matches {image_path.name}; give the image id",
        poses_file,
    )
