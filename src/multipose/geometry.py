"""Pure geometry of boxes and crops: person boxes (`Boxes`) and their non-maximum suppression,
boxes around people, and the affine maps between an image and crops of a network's input size.

A box is padded (1.25 by default) and widened or heightened to the crop's aspect ratio; the
crop transform maps that region onto the crop, optionally rotated about its centre (training
augmentation). Transforms are (N, 2, 3) arrays, image to crop, as cv2.warpAffine takes them.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from multipose.errors import MultiposeError
from multipose.poses import Poses
from multipose.similarity import iou


@dataclass
class Boxes:
    """Boxes (N, 4) as x0, y0, x1, y1 in image pixels, with scores (N,)."""

    boxes: np.ndarray
    scores: np.ndarray

    def __post_init__(self) -> None:
        self.boxes = np.asarray(self.boxes, np.float32).reshape(-1, 4)
        self.scores = np.asarray(self.scores, np.float32).reshape(-1)
        if len(self.boxes) != len(self.scores):
            raise MultiposeError(f"{len(self.boxes)} boxes but {len(self.scores)} scores")

    def __len__(self) -> int:
        return len(self.boxes)

    def __getitem__(self, index) -> Boxes:
        return Boxes(self.boxes[index], self.scores[index])

    @classmethod
    def from_xywh(cls, xywh: np.ndarray, scores: np.ndarray) -> Boxes:
        xywh = np.asarray(xywh, np.float32).reshape(-1, 4)
        return cls(np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1), scores)


def nms(boxes: Boxes, iou_threshold: float) -> Boxes:
    """Greedy non-maximum suppression: the highest-scoring boxes, each overlapping no kept
    higher one by more than `iou_threshold`."""
    return boxes[suppress(boxes.boxes, boxes.scores, iou_threshold)]


def suppress(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indices of the boxes `nms` keeps, best score first (ties in the given order)."""
    order = np.argsort(-np.asarray(scores), kind="stable")
    overlaps = iou(boxes[order], boxes[order])
    keep = np.ones(len(order), bool)
    for i in range(len(order)):
        if keep[i]:
            keep[i + 1 :] &= overlaps[i, i + 1 :] <= iou_threshold
    return order[keep]


def pose_boxes(poses: Poses, padding: float = 1.2) -> Boxes:
    """Boxes around people found another way (a bottom-up result), enlarged by `padding`
    about their centres (keypoints hug the body; a box must hold it), scored as the people."""
    tight = poses.keypoint_boxes()
    centre, half = (tight[:, :2] + tight[:, 2:]) / 2, (tight[:, 2:] - tight[:, :2]) / 2 * padding
    return Boxes(np.concatenate([centre - half, centre + half], axis=1), poses.scores)


def box_regions(
    boxes: np.ndarray, aspect: float, padding: float = 1.25
) -> tuple[np.ndarray, np.ndarray]:
    """Centres (N, 2) and sizes (N, 2, width and height) of the regions to crop around
    x0, y0, x1, y1 boxes, for crops of `aspect` = width / height."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    w, h = np.maximum(w, h * aspect), np.maximum(h, w / aspect)
    return centres, np.stack([w, h], axis=1) * padding


def crop_transforms(
    centres: np.ndarray,
    sizes: np.ndarray,
    crop_size: tuple[int, int],
    rotation: np.ndarray | None = None,
) -> np.ndarray:
    """(N, 2, 3) affine maps from the image to crops of `crop_size` = (width, height): each
    region (centre, size) onto the whole crop, rotated by `rotation` degrees (counter-clockwise
    on screen) about its centre."""
    width, height = crop_size
    scale = np.stack([width / sizes[:, 0], height / sizes[:, 1]], axis=1)  # (N, 2)
    angle = np.zeros(len(centres)) if rotation is None else np.deg2rad(rotation)
    cos, sin = np.cos(angle), np.sin(angle)
    # crop = S R (image - centre) + crop centre, with R turning the content by +angle on screen.
    linear = np.empty((len(centres), 2, 2))
    linear[:, 0, 0], linear[:, 0, 1] = scale[:, 0] * cos, scale[:, 0] * sin
    linear[:, 1, 0], linear[:, 1, 1] = -scale[:, 1] * sin, scale[:, 1] * cos
    crop_centre = np.array([(width - 1) / 2, (height - 1) / 2])
    shift = crop_centre - np.einsum("nij,nj->ni", linear, centres)
    return np.concatenate([linear, shift[:, :, None]], axis=2)


def invert(transforms: np.ndarray) -> np.ndarray:
    """Inverses of (N, 2, 3) affine maps."""
    linear = np.linalg.inv(transforms[:, :, :2])
    shift = -np.einsum("nij,nj->ni", linear, transforms[:, :, 2])
    return np.concatenate([linear, shift[:, :, None]], axis=2)


def apply(transforms: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Points (N, K, 2) mapped by each person's (N, 2, 3) affine map."""
    return np.einsum("nij,nkj->nki", transforms[:, :, :2], points) + transforms[:, None, :, 2]


def warp_crops(
    image: np.ndarray,
    transforms: np.ndarray,
    crop_size: tuple[int, int],
    border: int = cv2.BORDER_CONSTANT,
) -> np.ndarray:
    """(N, height, width, C) crops of `image`, black outside it (or as OpenCV's `border`
    mode fills it)."""
    width, height = crop_size
    crops = np.zeros((len(transforms), height, width, *image.shape[2:]), image.dtype)
    for crop, m in zip(crops, transforms, strict=True):
        cv2.warpAffine(
            image,
            m,
            (width, height),
            dst=crop,
            flags=cv2.INTER_LINEAR,
            borderMode=border,
        )
    return crops


def check_boxes(
    boxes: np.ndarray, image_size: tuple[int, int], min_size: float = 2.0
) -> tuple[np.ndarray, list[str | None]]:
    """The boxes clipped to the image, and for each why it cannot be used (None if it can):
    not finite, empty, outside the image, or under `min_size` pixels once clipped."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    width, height = image_size
    finite = np.isfinite(boxes).all(axis=1)
    clipped = np.clip(np.where(finite[:, None], boxes, 0), 0, [width, height, width, height])
    size = clipped[:, 2:] - clipped[:, :2]
    problems: list[str | None] = []
    for box, ok, (w, h) in zip(boxes, finite, size, strict=True):
        if not ok:
            problems.append("box is not finite")
        elif box[2] <= box[0] or box[3] <= box[1]:
            problems.append("box has zero or negative size")
        elif box[2] <= 0 or box[3] <= 0 or box[0] >= width or box[1] >= height:
            problems.append("box lies outside the image")
        elif w < min_size or h < min_size:
            problems.append(f"box is under {min_size:g} px once clipped to the image")
        else:
            problems.append(None)
    return clipped, problems
