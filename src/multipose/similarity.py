"""How alike two sets of boxes or people are: intersection over union of boxes and COCO's
object keypoint similarity. Used by non-maximum suppression, BlazePose's merging of duplicate
people and tracking."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) intersection over union of x0, y0, x1, y1 boxes."""
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def oks(
    a: np.ndarray,
    b: np.ndarray,
    areas: np.ndarray,
    sigmas: Sequence[float],
    labelled: np.ndarray | None = None,
) -> np.ndarray:
    """(len(a), len(b)) object keypoint similarity of keypoints (N, K, 2) `a` to `b`, each
    pair scaled by the area of the second person (`areas`, (len(b),)) and the keypoints'
    `sigmas` (K,); the mean over all K keypoints, or over those `labelled` ((len(b), K)
    booleans) in the second person, as COCO's evaluation counts them."""
    k2 = (2 * np.asarray(sigmas, np.float64)) ** 2
    d2 = ((a[:, None].astype(np.float64) - b[None].astype(np.float64)) ** 2).sum(-1)
    close = np.exp(-d2 / (2 * np.asarray(areas, np.float64)[None, :, None] * k2))
    if labelled is None:
        return close.mean(-1)
    return (close * labelled[None]).sum(-1) / np.maximum(labelled.sum(-1), 1)[None]


def common_oks(
    a: np.ndarray, b: np.ndarray, sigma: float = 0.08, min_common: int = 3
) -> np.ndarray:
    """(len(a), len(b)) likeness of people (N, K, 3: x, y, score; score 0 where not found) of
    any layout: OKS with one `sigma` for all keypoints over those found in both, each weighted
    by the lesser of its two scores, scaled by the area of the second's keypoint box; where
    fewer than `min_common` are found in both, the IoU of the two keypoint boxes."""
    weight = np.minimum(a[:, None, :, 2], b[None, :, :, 2]).astype(np.float64)
    boxes_a, boxes_b = keypoint_boxes(a), keypoint_boxes(b)
    area = np.maximum(np.prod(boxes_b[:, 2:] - boxes_b[:, :2], axis=1), 1.0)
    d2 = ((a[:, None, :, :2].astype(np.float64) - b[None, :, :, :2]) ** 2).sum(-1)
    close = np.exp(-d2 / (2 * area[None, :, None] * (2 * sigma) ** 2))
    similar = (close * weight).sum(-1) / np.maximum(weight.sum(-1), 1e-9)
    return np.where((weight > 0).sum(-1) >= min_common, similar, iou(boxes_a, boxes_b))


def keypoint_boxes(keypoints: np.ndarray) -> np.ndarray:
    """(N, 4) x0, y0, x1, y1 boxes around the found keypoints of (N, K, 3) (zeros if none)."""
    found = keypoints[..., 2] > 0
    x = np.where(found, keypoints[..., 0], np.inf)
    y = np.where(found, keypoints[..., 1], np.inf)
    boxes = np.stack(
        [
            x.min(1, initial=np.inf),
            y.min(1, initial=np.inf),
            np.where(found, keypoints[..., 0], -np.inf).max(1, initial=-np.inf),
            np.where(found, keypoints[..., 1], -np.inf).max(1, initial=-np.inf),
        ],
        axis=1,
    )
    boxes[~found.any(1)] = 0
    return boxes


def greedy_pairs(
    similar: np.ndarray, minimum: float, pairs: np.ndarray | None = None
) -> np.ndarray:
    """For each column of `similar` (rows x columns), the row paired with it, or -1: the most
    similar pairs first, each row and column in one pair at most, none less similar than
    `minimum`. `pairs` (one per column, -1 where none) holds pairs made already, kept."""
    pairs = np.full(similar.shape[1], -1) if pairs is None else pairs.copy()
    for flat in np.argsort(-similar, axis=None, kind="stable"):
        row, column = np.unravel_index(flat, similar.shape)
        if similar[row, column] < minimum:
            break
        if pairs[column] < 0 and row not in pairs:
            pairs[column] = row
    return pairs
