"""YOLO-pose's decoding: one row of values per anchor point (box centre and size, person
score, 17 keypoints) into people, by a score threshold and non-maximum suppression of the
boxes, as Ultralytics' own predictor does (class-agnostic, IoU 0.7, at most 300 people)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from multipose.geometry import suppress
from multipose.poses import Poses
from multipose.skeleton import COCO17, Layout

MAX_CANDIDATES = 30000  # the best-scoring anchors NMS looks at


@dataclass(frozen=True)
class YoloPoseCodec:
    """min_score: the least person score kept (Ultralytics' predictor keeps 0.25; on
    coco-mini-val2017 AP is 0.446 at 0.01, as Ultralytics' own, 0.443 at 0.1 and 0.421 at
    0.25); iou: boxes overlapping a better one by more are dropped; max_people per image."""

    method: ClassVar[str] = "yolo"  # the family, as `multipose models` shows it
    min_score: float = 0.1
    iou: float = 0.7
    max_people: int = 300
    stride: int = 8  # of the finest anchor grid

    @property
    def layout(self) -> Layout:
        return COCO17

    def decode(self, maps: Sequence[np.ndarray]) -> Poses:
        """People (with boxes) in input pixels from one image's output (4 + classes + 51, A);
        a person's score is its best class score (the pose models have one class)."""
        (raw,) = maps
        classes = raw.shape[0] - 4 - 3 * COCO17.num_keypoints
        scores = raw[4 : 4 + classes].max(axis=0)
        candidates = np.flatnonzero(scores > self.min_score)
        candidates = candidates[np.argsort(-scores[candidates], kind="stable")][:MAX_CANDIDATES]
        centre, size = raw[:2, candidates].T, raw[2:4, candidates].T
        boxes = np.concatenate([centre - size / 2, centre + size / 2], axis=1)
        keep = suppress(boxes, scores[candidates], self.iou)[: self.max_people]
        chosen = candidates[keep]
        keypoints = raw[4 + classes :, chosen].T.reshape(-1, COCO17.num_keypoints, 3)
        return Poses(keypoints, scores[chosen], COCO17, boxes[keep])
