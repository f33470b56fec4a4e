"""The API's answers: people as JSON, their skeleton for drawing, and the OpenPose JSON and COCO
results forms (the package's own, from `Poses`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from multipose.io.openpose_json import OPENPOSE_LAYOUTS
from multipose.poses import Poses
from multipose.runner.register import coco_id
from multipose.skeleton import Layout

FORMATS = ("multipose", "openpose", "coco")


def people_json(poses: Poses) -> list[dict]:
    """Each person: its track id (-1 where none), score, box (x0, y0, x1, y1: the given one or
    around its found keypoints) and keypoints (x, y, score; 0, 0, 0 where not found)."""
    boxes = poses.boxes if poses.boxes is not None else poses.keypoint_boxes()
    ids = poses.track_ids if poses.track_ids is not None else np.full(len(poses), -1)
    return [
        {
            "id": int(ident),
            "score": round(float(score), 4),
            "box": [round(float(v), 2) for v in box],
            "keypoints": np.round(keypoints, 3).tolist(),
        }
        for ident, score, box, keypoints in zip(
            ids, poses.scores, boxes, poses.keypoints, strict=True
        )
    ]


def skeleton_json(layout: Layout) -> dict:
    """What a client needs to draw people of `layout`: keypoint names, limbs (pairs of
    keypoint indices) and their RGB colours."""
    return {
        "layout": layout.name,
        "keypoints": list(layout.keypoints),
        "limbs": [list(limb) for limb in layout.limbs],
        "limb_colors": [list(color) for color in layout.limb_colors],
        "keypoint_colors": [list(color) for color in layout.keypoint_colors],
    }


def openpose_layout(layout: str | None, model_layout: str) -> str:
    """The layout of the OpenPose JSON form: the one asked for if OpenPose has it, else the
    model's."""
    return layout if layout in OPENPOSE_LAYOUTS else model_layout


def image_answer(poses: Poses, name: str, width: int, height: int, openpose: str) -> dict:
    """The people of one uploaded image with the image's name and size, their skeleton, and
    the same people as OpenPose JSON (in the layout `openpose`) and COCO results (image id:
    the COCO id of a file named as in COCO, else 0)."""
    return {
        "image": {"name": name, "width": width, "height": height},
        "layout": poses.layout.name,
        "people": people_json(poses),
        "skeleton": skeleton_json(poses.layout),
        "openpose": poses.to_openpose(openpose),
        "coco": poses.to_coco(coco_id(Path(name)) or 0),
    }
