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


def oks(a: np.ndarray, b: np.ndarray, areas: np.ndarray, sigmas: Sequence[float]) -> np.ndarray:
    """(len(a), len(b)) object keypoint similarity of keypoints (N, K, 2) `a` to `b`, each
    pair scaled by the area of the second person (`areas`, (len(b),)) and the keypoints'
    `sigmas` (K,); the mean over all K keypoints."""
    k2 = (2 * np.asarray(sigmas, np.float64)) ** 2
    d2 = ((a[:, None].astype(np.float64) - b[None].astype(np.float64)) ** 2).sum(-1)
    return np.exp(-d2 / (2 * np.asarray(areas, np.float64)[None, :, None] * k2)).mean(-1)
