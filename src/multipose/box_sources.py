"""Where person boxes come from: ground truth, a detections file, a bottom-up result, or
OpenCV's HOG people detector. Every source is called with an image (and its dataset id where it
has one) and returns `Boxes`, so any source can feed any top-down model."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from multipose.errors import MultiposeError
from multipose.geometry import Boxes, nms, pose_boxes
from multipose.io.coco import CocoDataset
from multipose.io.jsonfile import read_json
from multipose.poses import Poses
from multipose.values import integer_problem, number_problem, numbers_problem, shown


class BoxSource(Protocol):
    def __call__(self, image: np.ndarray, image_id: int | None = None) -> Boxes: ...


def _need_id(image_id: int | None, source: str) -> int:
    if image_id is None:
        raise MultiposeError(f"{source} boxes need the image's id")
    return image_id


@dataclass
class GroundTruthBoxes:
    """The boxes of the labelled people of a COCO dataset's image (score 1)."""

    dataset: CocoDataset
    min_keypoints: int = 1

    def __call__(self, image: np.ndarray, image_id: int | None = None) -> Boxes:
        people = self.dataset.people(_need_id(image_id, "ground-truth"), self.min_keypoints)
        boxes = people.boxes if people.boxes is not None else people.keypoint_boxes()
        return Boxes(boxes, np.ones(len(people)))


class DetectionFile:
    """Person detections from a COCO detections file (`[{image_id, bbox, score,
    category_id}]`), above `score_threshold`, optionally thinned by NMS."""

    def __init__(
        self,
        path: str | Path,
        score_threshold: float = 0.0,
        nms_iou: float | None = None,
        category_id: int = 1,
    ) -> None:
        self.path, self.score_threshold, self.nms_iou = Path(path), score_threshold, nms_iou
        data = read_json(self.path)
        if not isinstance(data, list):
            raise MultiposeError("not a COCO detections file (expected a list)", self.path)
        grouped: dict[int, list[dict]] = defaultdict(list)
        for i, det in enumerate(data):
            if not isinstance(det, dict) or not {"image_id", "bbox", "score"} <= det.keys():
                raise MultiposeError(f"detection {i} lacks image_id, bbox or score", self.path)
            problem = _detection_problem(det)
            if problem:
                raise MultiposeError(f"detection {i}: {problem}", self.path)
            if det.get("category_id", category_id) == category_id:
                grouped[int(det["image_id"])].append(det)
        self._by_image = {
            k: Boxes.from_xywh([d["bbox"] for d in v], [d["score"] for d in v])
            for k, v in grouped.items()
        }

    def __call__(self, image: np.ndarray, image_id: int | None = None) -> Boxes:
        boxes = self._by_image.get(
            _need_id(image_id, "detection-file"), Boxes(np.zeros((0, 4)), [])
        )
        boxes = boxes[boxes.scores >= self.score_threshold]
        return nms(boxes, self.nms_iou) if self.nms_iou is not None else boxes


def _detection_problem(det: dict) -> str | None:
    """What is wrong with a COCO detection, in words, or None."""
    for key, problem in (
        ("image_id", integer_problem(det["image_id"])),
        ("bbox", numbers_problem(det["bbox"], 4)),
        ("score", number_problem(det["score"])),
        ("category_id", integer_problem(det["category_id"]) if "category_id" in det else None),
    ):
        if problem:
            return f"{key!r} {problem}"
    if min(det["bbox"][2:]) <= 0:
        return f"'bbox' {shown(det['bbox'])} is empty (x, y, width, height: sizes must be > 0)"
    return None


@dataclass
class PoseBoxes:
    """Boxes from a bottom-up estimator: any callable from an image to `Poses` (people with
    fewer than `min_keypoints` found keypoints are left out)."""

    estimate: Callable[[np.ndarray], Poses]
    padding: float = 1.2
    min_keypoints: int = 3

    def __call__(self, image: np.ndarray, image_id: int | None = None) -> Boxes:
        return pose_boxes(
            self.estimate(image).filter(min_keypoints=self.min_keypoints), self.padding
        )


@dataclass
class HogDetector:
    """OpenCV's HOG + linear SVM pedestrian detector (no download). It finds upright,
    full-length people; it misses most others, so it is a fallback. Images are searched at
    `max_side` pixels on their longer side."""

    max_side: int = 480
    hit_threshold: float = 0.0
    nms_iou: float = 0.5

    def __post_init__(self) -> None:
        if not hasattr(cv2, "HOGDescriptor"):
            raise MultiposeError("this OpenCV has no HOG detector (it was dropped in OpenCV 5)")
        self._hog = cv2.HOGDescriptor()
        self._hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())

    def __call__(self, image: np.ndarray, image_id: int | None = None) -> Boxes:
        scale = min(1.0, self.max_side / max(image.shape[:2]))
        small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY) if small.ndim == 3 else small
        found, weights = self._hog.detectMultiScale(
            gray, hitThreshold=self.hit_threshold, winStride=(4, 4), padding=(16, 16), scale=1.05
        )
        if not len(found):
            return Boxes(np.zeros((0, 4)), [])
        boxes = Boxes.from_xywh(np.asarray(found, np.float32) / scale, np.asarray(weights).ravel())
        return nms(boxes, self.nms_iou)
