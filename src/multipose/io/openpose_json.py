"""OpenPose JSON files: one per image, `<stem>_keypoints.json`, format version 1.3."""

from __future__ import annotations

from pathlib import Path

from multipose.errors import MultiposeError
from multipose.io.jsonfile import read_json, write_json
from multipose.poses import Poses
from multipose.skeleton import Layout

OPENPOSE_LAYOUTS = ("coco18", "body25")


def openpose_json_path(out_dir: str | Path, image_path: str | Path) -> Path:
    """Where OpenPose writes the keypoints of an image: `<out_dir>/<stem>_keypoints.json`."""
    return Path(out_dir) / f"{Path(image_path).stem}_keypoints.json"


def write_openpose_json(path: str | Path, poses: Poses, layout: Layout | str = "coco18") -> None:
    """Write the people of one image in OpenPose's COCO-18 or BODY_25 order."""
    name = layout if isinstance(layout, str) else layout.name
    if name not in OPENPOSE_LAYOUTS:
        raise MultiposeError(
            f"OpenPose JSON is written in {' or '.join(OPENPOSE_LAYOUTS)}, not {name}"
        )
    write_json(path, poses.to_openpose(layout))


def read_openpose_json(path: str | Path) -> Poses:
    """Read the people of one OpenPose JSON file (COCO-18 or BODY_25 by keypoint count)."""
    data = read_json(path)
    if not isinstance(data, dict):
        raise MultiposeError("not an OpenPose JSON file (expected an object with 'people')", path)
    try:
        return Poses.from_openpose(data)
    except MultiposeError as exc:
        raise MultiposeError(str(exc), path) from None
