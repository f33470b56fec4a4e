"""BlazePose decoding: the detector's SSD outputs to scored detections with alignment points,
alignment points to rotated square regions (ROIs), and the landmark network's outputs to
keypoints in its crop (`BlazePoseCodec`). Pure NumPy; the constants are those of mediapipe's
pose graphs.

A ROI is a row (centre x, centre y, side, rotation) in image pixels and radians, the rotation
clockwise on screen: the crop's upward axis points from the hip centre to the alignment point.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from multipose.poses import Poses
from multipose.similarity import iou
from multipose.skeleton import BLAZEPOSE33, COCO17, Layout

# The person detector: SSD anchors of strides 8, 16, 32, 32, 32 (two per cell and layer,
# layers of one stride merged) over a 224 input; 12 values per anchor: box centre, size, then
# four alignment points (hip centre, full-body size/rotation point, shoulder centre,
# upper-body point), in input pixels relative to the anchor.
POSE_DETECTOR = {"input": 224, "strides": (8, 16, 32, 32, 32), "keypoints": 4}
# The multi-face detector: one 48x48 layer of stride 4 over 192, one anchor per cell; six
# face keypoints (eyes, nose tip, mouth, ear tragions).
FACE_DETECTOR = {"input": 192, "strides": (4,), "keypoints": 6, "per_layer": 1}
LANDMARK_INPUT = 256
ROI_SCALE = 1.25  # the square around the alignment circle, enlarged as in training
HEATMAP_KERNEL = 7  # heatmap refinement window
HEATMAP_MIN_CONFIDENCE = 0.5
# BlazePose landmarks that are COCO-17 keypoints, in COCO-17 order.
COCO_LANDMARKS = np.array([BLAZEPOSE33.index(name) for name in COCO17.keypoints])


@dataclass(frozen=True)
class BlazePoseCodec:
    """The landmark network's outputs (landmarks, presence, segmentation, heatmaps, world
    landmarks; a batch of person crops) to people in crop pixels."""

    method: ClassVar[str] = "blazepose"  # the family, as `multipose models` shows it

    input_size: tuple[int, int] = (LANDMARK_INPUT, LANDMARK_INPUT)
    stride: int = 4  # of the landmark heatmaps

    @property
    def layout(self) -> Layout:
        return BLAZEPOSE33

    def decode(self, maps: Sequence[np.ndarray]) -> Poses:
        """One person per crop: the 33 landmarks (score: visibility), scored by `poses`."""
        return self.poses(*self.landmarks(maps))

    def landmarks(self, maps: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Landmarks (N, 39, 5: x, y in crop pixels, visibility, presence, heatmap peak) and
        pose presence (N,); landmarks 33 and 34 are the alignment points (hip centre,
        full-body size and rotation point)."""
        raw, presence, _, heatmaps, _ = maps
        landmarks = decode_landmarks(raw, heatmaps, self.input_size[0])
        peaks = heatmap_peaks(landmarks[..., :2], heatmaps, self.input_size[0])
        return np.concatenate([landmarks, peaks[..., None]], axis=2), presence.reshape(-1)

    def poses(self, landmarks: np.ndarray, presence: np.ndarray) -> Poses:
        """Poses of the 33 landmarks: keypoint score = visibility; person score = pose
        presence times the mean heatmap peak of the COCO keypoints. (The heatmap ranks people:
        on coco-mini train it tells true people, OKS >= 0.5, from false ones with an AUC of
        0.94, presence alone 0.90, presence times mean visibility 0.85; confident false people
        have flat heatmaps.)"""
        keypoints = landmarks[:, : BLAZEPOSE33.num_keypoints, :3].astype(np.float32)
        scores = presence * landmarks[:, COCO_LANDMARKS, 4].mean(axis=1) if len(keypoints) else []
        return Poses(keypoints, scores, BLAZEPOSE33)


def ssd_anchors(input_size: int, strides: tuple[int, ...], per_layer: int = 2) -> np.ndarray:
    """(A, 2) anchor centres in [0, 1], in the detector's output order."""
    centres = []
    index = 0
    while index < len(strides):
        stride, layers = strides[index], 1
        while index + layers < len(strides) and strides[index + layers] == stride:
            layers += 1
        cells = -(-input_size // stride)
        grid = (np.arange(cells) + 0.5) / cells
        y, x = np.meshgrid(grid, grid, indexing="ij")
        cell = np.stack([x.ravel(), y.ravel()], axis=1)
        centres.append(np.repeat(cell, per_layer * layers, axis=0))
        index += layers
    return np.concatenate(centres)


def decode_detections(
    raw: np.ndarray,
    logits: np.ndarray,
    anchors: np.ndarray,
    input_size: int,
    min_score: float = 0.5,
    iou_threshold: float = 0.3,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boxes (M, 4) x0, y0, x1, y1, keypoints (M, K, 2) and scores (M,), in [0, 1] of the
    detector's input, from one image's raw outputs (A, 4 + 2K) and score logits (A,): scores
    above `min_score`, merged by weighted non-maximum suppression (each cluster of boxes
    overlapping the best one by more than `iou_threshold` averaged, weighted by score)."""
    scores = 1 / (1 + np.exp(-np.clip(logits.reshape(-1).astype(np.float64), -100, 100)))
    keep = scores >= min_score
    values, anchor = raw[keep] / input_size, anchors[keep]
    centre, size = values[:, :2] + anchor, values[:, 2:4]
    boxes = np.concatenate([centre - size / 2, centre + size / 2], axis=1)
    points = values[:, 4:].reshape(len(values), (raw.shape[1] - 4) // 2, 2) + anchor[:, None]
    scores = scores[keep]
    order = np.argsort(-scores, kind="stable")
    boxes, points, scores = boxes[order], points[order], scores[order]
    overlaps = iou(boxes, boxes)
    left = np.ones(len(boxes), bool)
    out_boxes, out_points, out_scores = [], [], []
    for i in range(len(boxes)):
        if not left[i]:
            continue
        cluster = left & (overlaps[i] > iou_threshold)
        cluster[i] = True
        weights = scores[cluster] / scores[cluster].sum()
        out_boxes.append(weights @ boxes[cluster])
        out_points.append(np.einsum("n,nkc->kc", weights, points[cluster]))
        out_scores.append(scores[i])
        left &= ~cluster
    k = points.shape[1]
    return (
        np.array(out_boxes, np.float64).reshape(-1, 4),
        np.array(out_points, np.float64).reshape(-1, k, 2),
        np.array(out_scores, np.float64),
    )


def rois_from_alignment(
    centre: np.ndarray, end: np.ndarray, scale: float = ROI_SCALE
) -> np.ndarray:
    """ROIs (N, 4) from alignment points in image pixels: the square of side 2 |end - centre|
    about `centre`, times `scale`, turned so that `end` is straight above the centre."""
    delta = end - centre
    side = 2 * np.hypot(delta[:, 0], delta[:, 1]) * scale
    rotation = np.pi / 2 - np.arctan2(-delta[:, 1], delta[:, 0])
    rotation = (rotation + np.pi) % (2 * np.pi) - np.pi
    return np.stack([centre[:, 0], centre[:, 1], side, rotation], axis=1)


def roi_transforms(rois: np.ndarray, side: int = LANDMARK_INPUT) -> np.ndarray:
    """(N, 2, 3) affine maps from the image to `side`-pixel crops of the ROIs (pixel centres
    at integers in both)."""
    scale = side / rois[:, 2]
    cos, sin = np.cos(rois[:, 3]), np.sin(rois[:, 3])
    linear = np.empty((len(rois), 2, 2))
    # crop = scale * R(-rotation) (image - centre) + crop centre
    linear[:, 0, 0], linear[:, 0, 1] = scale * cos, scale * sin
    linear[:, 1, 0], linear[:, 1, 1] = -scale * sin, scale * cos
    shift = (side - 1) / 2 - np.einsum("nij,nj->ni", linear, rois[:, :2])
    return np.concatenate([linear, shift[:, :, None]], axis=2)


def decode_landmarks(
    raw: np.ndarray, heatmaps: np.ndarray | None = None, side: int = LANDMARK_INPUT
) -> np.ndarray:
    """(N, L, 4) landmarks in crop pixels (pixel centres at integers): x, y, visibility and
    presence (probabilities), from the network's (N, 5 L) output; refined, where a heatmap
    (N, L, h, w) is confident, by the heatmap-weighted mean position in a 7x7 window."""
    values = raw.reshape(len(raw), -1, 5).astype(np.float64)
    xy = values[..., :2] / side  # in [0, 1] of the crop, corners at 0 and 1
    if heatmaps is not None:
        xy = _refine(xy, heatmaps)
    probabilities = 1 / (1 + np.exp(-values[..., 3:5]))
    return np.concatenate([xy * side - 0.5, probabilities], axis=2)


def _refine(xy: np.ndarray, heatmaps: np.ndarray) -> np.ndarray:
    n, joints, h, w = heatmaps.shape
    half = HEATMAP_KERNEL // 2
    centre = np.floor(xy * [w, h]).astype(int)  # (N, L, 2) cells
    offsets = np.arange(-half, half + 1)
    cols = centre[..., 0, None] + offsets  # (N, L, k)
    rows = centre[..., 1, None] + offsets
    valid = (cols[..., None, :] >= 0) & (cols[..., None, :] < w)
    valid = valid & ((rows[..., :, None] >= 0) & (rows[..., :, None] < h))  # (N, L, k, k)
    logits = heatmaps[
        np.arange(n)[:, None, None, None],
        np.arange(joints)[None, :, None, None],
        np.clip(rows, 0, h - 1)[..., :, None],
        np.clip(cols, 0, w - 1)[..., None, :],
    ]
    weights = np.where(valid, 1 / (1 + np.exp(-logits.astype(np.float64))), 0.0)
    total = weights.sum(axis=(2, 3))
    inside = (centre >= 0).all(-1) & (centre[..., 0] < w) & (centre[..., 1] < h)
    refine = inside & (weights.max(axis=(2, 3)) >= HEATMAP_MIN_CONFIDENCE) & (total > 0)
    safe = np.maximum(total, 1e-12)
    mean_col = (weights.sum(axis=2) * cols).sum(-1) / safe
    mean_row = (weights.sum(axis=3) * rows).sum(-1) / safe
    refined = np.stack([(mean_col + 0.5) / w, (mean_row + 0.5) / h], axis=-1)
    return np.where(refine[..., None], refined, xy)


def heatmap_peaks(xy: np.ndarray, heatmaps: np.ndarray, side: int = LANDMARK_INPUT) -> np.ndarray:
    """(N, L) confidence of the landmark heatmaps (N, L, h, w; logits) at the landmarks (N, L,
    2; crop pixels): the sigmoid of the highest logit in the 3 x 3 cells about each landmark's
    cell (landmarks outside the crop take its nearest border cell)."""
    n, joints, h, w = heatmaps.shape
    cells = np.floor((xy + 0.5) / side * [w, h]).astype(int)  # (N, L, 2)
    best = np.full((n, joints), -np.inf, np.float32)
    people, landmarks = np.arange(n)[:, None], np.arange(joints)[None]
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            col = np.clip(cells[..., 0] + dx, 0, w - 1)
            row = np.clip(cells[..., 1] + dy, 0, h - 1)
            best = np.maximum(best, heatmaps[people, landmarks, row, col])
    return 1 / (1 + np.exp(-best.astype(np.float64)))
