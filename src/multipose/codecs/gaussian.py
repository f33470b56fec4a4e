"""Maps at a stride: the mapping between image pixels and map cells, map sizes, loss masks, and
Gaussian keypoint heatmaps."""

from __future__ import annotations

import cv2
import numpy as np
from numba import njit

from multipose.errors import MultiposeError


def image_to_map(xy: np.ndarray, stride: float) -> np.ndarray:
    """Image pixel coordinates to map-cell coordinates: cell (i, j) of a stride-`s` map
    covers the image point ((j + 0.5) s - 0.5, (i + 0.5) s - 0.5)."""
    return (np.asarray(xy, dtype=np.float32) + 0.5) / stride - 0.5


def map_to_image(xy: np.ndarray, stride: float) -> np.ndarray:
    """Map-cell coordinates to image pixel coordinates (the inverse of `image_to_map`)."""
    return (np.asarray(xy, dtype=np.float32) + 0.5) * stride - 0.5


def map_size(input_size: tuple[int, int], stride: int) -> tuple[int, int]:
    """(height, width) of the maps of an input of (width, height) pixels at `stride`."""
    width, height = input_size
    return -(-height // stride), -(-width // stride)


def loss_mask(ignore: np.ndarray | None, input_size: tuple[int, int], stride: int) -> np.ndarray:
    """(h, w) float mask at `stride`: 0 on cells mostly covered by `ignore` (a bool mask of
    input pixels), 1 elsewhere."""
    h, w = map_size(input_size, stride)
    if ignore is None:
        return np.ones((h, w), np.float32)
    width, height = input_size
    if ignore.shape != (height, width):
        raise MultiposeError(
            f"ignore mask of shape {ignore.shape} does not match the input ({height}, {width})"
        )
    padded = np.zeros((h * stride, w * stride), np.float32)
    padded[:height, :width] = ignore
    share = cv2.resize(padded, (w, h), interpolation=cv2.INTER_AREA)
    return (share < 0.5).astype(np.float32)


def render_gaussians(
    points: np.ndarray,
    present: np.ndarray,
    shape: tuple[int, int],
    sigma: float,
    heights: np.ndarray | None = None,
    cutoff: float = 0.01,
    owners: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """(K, h, w) heatmaps: at each cell, the highest over people of a Gaussian of std `sigma`
    (in cells) around each present keypoint.

    points: (N, K, 2) x, y in map cells; present: (N, K) bool; heights: optional (N, K) peak
    values (default 1). Values below `cutoff` are zero. With `owners`, also the (K, h, w) index
    of the person whose Gaussian is highest at each cell (-1 where none reaches the cutoff).
    Each Gaussian is drawn only over the cells where it can reach the cutoff."""
    n, k = present.shape
    heights = np.ones((n, k)) if heights is None else np.asarray(heights, np.float64)
    out = np.zeros((k, *shape), np.float32)
    owner = np.full((k, *shape) if owners else (0, 0, 0), -1, np.int32)
    _splat(
        np.asarray(points, np.float64),
        np.asarray(present, np.bool_),
        heights,
        float(sigma),
        float(cutoff),
        out,
        owner,
    )
    return (out, owner) if owners else out


@njit(cache=True, nogil=True)
def _splat(points, present, heights, sigma, cutoff, out, owner):
    num_people, num_keypoints = present.shape
    _, h, w = out.shape
    scale = -0.5 / (sigma * sigma)
    for n in range(num_people):
        for k in range(num_keypoints):
            height = heights[n, k]
            if not present[n, k] or height <= 0 or height < cutoff:
                continue
            radius = sigma * np.sqrt(2.0 * np.log(height / cutoff)) if cutoff > 0 else h + w
            x, y = points[n, k, 0], points[n, k, 1]
            for row in range(max(int(np.ceil(y - radius)), 0), min(int(y + radius), h - 1) + 1):
                for col in range(max(int(np.ceil(x - radius)), 0), min(int(x + radius), w - 1) + 1):
                    d2 = (col - x) * (col - x) + (row - y) * (row - y)
                    value = height * np.exp(d2 * scale)
                    if value >= cutoff and value > out[k, row, col]:
                        out[k, row, col] = value
                        if len(owner):
                            owner[k, row, col] = n
