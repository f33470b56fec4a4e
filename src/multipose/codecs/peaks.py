"""Peaks of keypoint heatmaps: non-maximum suppression with sub-pixel refinement."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from multipose.errors import MultiposeError

# The 8 neighbours of a cell; those before it in raster order must be strictly lower, those
# after it no higher, so that a plateau of equal values gives exactly one peak.
_NEIGHBOURS = [(di, dj) for di in (-1, 0, 1) for dj in (-1, 0, 1) if (di, dj) != (0, 0)]


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


def find_peaks(maps: np.ndarray, threshold: float, max_per_channel: int | None = None) -> Peaks:
    """Cells above `threshold` that are maxima of their 3x3 neighbourhood, with sub-pixel
    positions from a parabola through the log of the values on each axis (exact for a
    Gaussian peak). `max_per_channel` keeps the highest peaks of each channel."""
    h, w = maps.shape[1:]
    padded = np.pad(maps, ((0, 0), (1, 1), (1, 1)), constant_values=-np.inf)
    is_peak = maps > threshold
    for di, dj in _NEIGHBOURS:
        neighbour = padded[:, 1 + di : 1 + di + h, 1 + dj : 1 + dj + w]
        before = di < 0 or (di == 0 and dj < 0)
        is_peak &= (maps > neighbour) if before else (maps >= neighbour)
    channel, row, col = np.nonzero(is_peak)
    score = maps[channel, row, col]
    order = np.lexsort((-score, channel))
    channel, row, col, score = channel[order], row[order], col[order], score[order]
    if max_per_channel is not None and len(channel):
        rank = np.arange(len(channel)) - np.searchsorted(channel, channel)
        keep = rank < max_per_channel
        channel, row, col, score = channel[keep], row[keep], col[keep], score[keep]
    dx = _log_parabola_offset(
        padded[channel, row + 1, col], score, padded[channel, row + 1, col + 2]
    )
    dy = _log_parabola_offset(
        padded[channel, row, col + 1], score, padded[channel, row + 2, col + 1]
    )
    return Peaks(channel, col + dx, row + dy, score, row, col)


def _log_parabola_offset(before: np.ndarray, centre: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Offset in [-0.5, 0.5] of the vertex of the parabola through the logs of three values;
    0 where a neighbour is missing (border) or not positive."""
    ok = (before > 0) & (after > 0) & (centre > 0) & np.isfinite(before) & np.isfinite(after)
    tiny = np.float32(1e-12)
    lb = np.log(np.where(ok, before, 1) + tiny)
    lc = np.log(np.where(ok, centre, 1) + tiny)
    la = np.log(np.where(ok, after, 1) + tiny)
    curvature = lb - 2 * lc + la
    ok &= curvature < -1e-6
    offset = 0.5 * (lb - la) / np.where(ok, curvature, 1)
    return np.where(ok, np.clip(offset, -0.5, 0.5), 0).astype(np.float32)
