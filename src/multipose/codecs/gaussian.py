"""Gaussian keypoint heatmaps and the mapping between image pixels and map cells."""

from __future__ import annotations

import numpy as np


def image_to_map(xy: np.ndarray, stride: float) -> np.ndarray:
    """Image pixel coordinates to map-cell coordinates: cell (i, j) of a stride-`s` map
    covers the image point ((j + 0.5) s - 0.5, (i + 0.5) s - 0.5)."""
    return (np.asarray(xy, dtype=np.float32) + 0.5) / stride - 0.5


def map_to_image(xy: np.ndarray, stride: float) -> np.ndarray:
    """Map-cell coordinates to image pixel coordinates (the inverse of `image_to_map`)."""
    return (np.asarray(xy, dtype=np.float32) + 0.5) * stride - 0.5


def render_gaussians(
    points: np.ndarray,
    present: np.ndarray,
    shape: tuple[int, int],
    sigma: float,
    heights: np.ndarray | None = None,
    cutoff: float = 0.01,
) -> np.ndarray:
    """(K, h, w) heatmaps: at each cell, the highest over people of a Gaussian of std `sigma`
    (in cells) around each present keypoint.

    points: (N, K, 2) x, y in map cells; present: (N, K) bool; heights: optional (N, K) peak
    values (default 1). Values below `cutoff` are zero. A 2D Gaussian is the product of two
    1D ones, so each person's map is an outer product: no per-pixel work in Python."""
    n, k = present.shape
    h, w = shape
    out = np.zeros((k, h, w), np.float32)
    if n == 0:
        return out
    scale = -0.5 / (sigma * sigma)
    gx = np.exp(scale * (np.arange(w, dtype=np.float32) - points[..., 0, None]) ** 2)  # N,K,w
    gy = np.exp(scale * (np.arange(h, dtype=np.float32) - points[..., 1, None]) ** 2)  # N,K,h
    weight = present.astype(np.float32) if heights is None else np.where(present, heights, 0)
    gy *= weight[..., None]
    for person_y, person_x in zip(gy, gx, strict=True):  # one (K, h, w) product per person
        np.maximum(out, person_y[:, :, None] * person_x[:, None, :], out=out)
    out[out < cutoff] = 0
    return out
