"""Peaks of keypoint heatmaps: non-maximum suppression with sub-pixel refinement."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from multipose.errors import MultiposeError


def _before(window: int) -> list[tuple[int, int]]:
    """The cells of a window before its centre in raster order: a peak must be strictly higher
    than these (and no lower than the others), so that a plateau gives exactly one peak."""
    r = window // 2
    return [(di, dj) for di in range(-r, 1) for dj in range(-r, r + 1) if di < 0 or dj < 0]


@dataclass
class Peaks:
    """Local maxima of a stack of maps, sorted by channel then by descending score.

    channel (M,) int; x, y (M,) float32 sub-pixel map-cell coordinates; score (M,) the map
    value at the peak's cell; row, col (M,) its integer cell."""

    channel: np.ndarray
    x: np.ndarray
    y: np.ndarray
    score: np.ndarray
    row: np.ndarray
    col: np.ndarray

    def __len__(self) -> int:
        return len(self.channel)

    def bounds(self, num_channels: int) -> np.ndarray:
        """(C + 1,) offsets: the peaks of channel c are `[bounds[c], bounds[c + 1])`."""
        return np.searchsorted(self.channel, np.arange(num_channels + 1))

    def select(self, index: np.ndarray) -> Peaks:
        """The peaks picked by an index array or mask (in their order)."""
        return Peaks(*(getattr(self, f)[index] for f in _FIELDS))

    @staticmethod
    def concatenate(parts: list[Peaks]) -> Peaks:
        """All the peaks of `parts`, sorted again by channel then descending score."""
        joined = Peaks(*(np.concatenate([getattr(p, f) for p in parts]) for f in _FIELDS))
        return joined.select(np.lexsort((-joined.score, joined.channel)))

    @property
    def xy(self) -> np.ndarray:
        return np.stack([self.x, self.y], axis=1)


_FIELDS = ("channel", "x", "y", "score", "row", "col")


def check_maps(maps: np.ndarray, name: str, channels: int | None = None) -> np.ndarray:
    """`maps` as float32 (C, h, w), or a `MultiposeError` saying what is wrong with them."""
    maps = np.asarray(maps)
    if maps.ndim != 3:
        raise MultiposeError(f"{name} must be (channels, height, width), not {maps.shape}")
    if channels is not None and maps.shape[0] != channels:
        raise MultiposeError(f"{name} must have {channels} channels, not {maps.shape[0]}")
    if maps.shape[1] == 0 or maps.shape[2] == 0:
        raise MultiposeError(f"{name} are empty: {maps.shape}")
    if not np.isfinite(maps).all():
        raise MultiposeError(f"{name} contain NaN or infinite values")
    return maps.astype(np.float32, copy=False)


def find_peaks(
    maps: np.ndarray, threshold: float, max_per_channel: int | None = None, window: int = 3
) -> Peaks:
    """Cells above `threshold` that are maxima of their `window` x `window` neighbourhood
    (an odd size; a flat neighbourhood has none), with sub-pixel
    positions from a parabola through the log of the values on each axis (exact for a
    Gaussian peak). A plateau of equal values gives one peak, its first cell in raster order.
    `max_per_channel` keeps the highest peaks of each channel."""
    maps = np.ascontiguousarray(maps, dtype=np.float32)
    kernel = np.ones((window, window), np.uint8)
    highest, lowest = np.empty_like(maps), np.empty_like(maps)
    for m, high, low in zip(maps, highest, lowest, strict=True):
        cv2.dilate(m, kernel, dst=high)
        cv2.erode(m, kernel, dst=low)
    # A peak is no lower than its neighbourhood and higher than some of it (no flat region).
    flat = np.flatnonzero((maps >= highest) & (maps > lowest) & (maps > threshold))
    channel, row, col = np.unravel_index(flat, maps.shape)
    score = maps.ravel()[flat]
    for di, dj in _before(window):
        score_before = _neighbour(maps, channel, row + di, col + dj)
        keep = score_before < score
        channel, row, col, score = channel[keep], row[keep], col[keep], score[keep]
    order = np.lexsort((-score, channel))
    channel, row, col, score = channel[order], row[order], col[order], score[order]
    if max_per_channel is not None and len(channel):
        rank = np.arange(len(channel)) - np.searchsorted(channel, channel)
        keep = rank < max_per_channel
        channel, row, col, score = channel[keep], row[keep], col[keep], score[keep]
    dx, dy = _subpixel_offsets(
        _neighbour(maps, channel, row, col - 1),
        _neighbour(maps, channel, row, col + 1),
        _neighbour(maps, channel, row - 1, col),
        _neighbour(maps, channel, row + 1, col),
        score,
    )
    return Peaks(channel, col + dx, row + dy, score, row, col)


def _neighbour(maps: np.ndarray, channel: np.ndarray, row: np.ndarray, col: np.ndarray):
    """Values of `maps` at the given cells, -inf outside the map."""
    _, h, w = maps.shape
    inside = (row >= 0) & (row < h) & (col >= 0) & (col < w)
    values = maps[channel, np.clip(row, 0, h - 1), np.clip(col, 0, w - 1)]
    return np.where(inside, values, -np.inf)


def _subpixel_offsets(
    left: np.ndarray, right: np.ndarray, up: np.ndarray, down: np.ndarray, centre: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Offsets in [-0.5, 0.5] of the vertex of a parabola through the logs of the values on
    each axis (exact for a Gaussian). Where an axis lacks a neighbour (the map's border) the
    peak is taken as round, so the other axis's curvature and the one neighbour still place
    it; where neither axis has a curvature, the offset is 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = [np.log(np.where(v > 0, v, np.nan)) for v in (left, right, up, down, centre)]
    l_left, l_right, l_up, l_down, l_centre = logs
    curve_x = l_left - 2 * l_centre + l_right
    curve_y = l_up - 2 * l_centre + l_down
    curve_x = np.where(np.isnan(curve_x), curve_y, curve_x)
    curve_y = np.where(np.isnan(curve_y), curve_x, curve_y)
    return (
        _vertex(l_left, l_centre, l_right, curve_x),
        _vertex(l_up, l_centre, l_down, curve_y),
    )


def _vertex(before: np.ndarray, centre: np.ndarray, after: np.ndarray, curve: np.ndarray):
    with np.errstate(divide="ignore", invalid="ignore"):
        both = 0.5 * (before - after) / curve
        only_after = 0.5 - (after - centre) / curve
        only_before = -0.5 + (before - centre) / curve
    offset = np.where(np.isnan(before), only_after, np.where(np.isnan(after), only_before, both))
    offset = np.where(curve < -1e-6, offset, np.nan)
    return np.nan_to_num(np.clip(offset, -0.5, 0.5), nan=0.0).astype(np.float32)
