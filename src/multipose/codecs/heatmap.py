"""The single-person heatmap codec of top-down methods (SimpleBaseline, HRNet).

One Gaussian heatmap per keypoint of a person's crop; decoding takes each map's argmax and
refines it to sub-cell precision: by a quarter cell towards the higher neighbour
(SimpleBaseline), or by DARK's Taylor expansion of the log heatmap (Zhang et al., CVPR 2020),
which is exact for a Gaussian. Everything works on batches: (P, K, h, w) for P people.

Coordinates follow the project's convention (cell centres at ((j + 0.5) s - 0.5) in crop
pixels), under which a horizontal flip of the crop is an exact reversal of the heatmaps' columns:
no one-cell shift is needed. Models trained with the corner-aligned convention, whose flipped
heatmaps are off by one cell, are served by `flip_shift=1`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from multipose.codecs.gaussian import image_to_map, map_to_image
from multipose.errors import MultiposeError
from multipose.poses import Poses
from multipose.skeleton import COCO17, Layout, get_layout

REFINEMENTS = ("none", "quarter", "dark")


@dataclass
class HeatmapTargets:
    """heatmaps (P, K, h, w) and per-keypoint loss weights (P, K)."""

    heatmaps: np.ndarray
    weights: np.ndarray


@dataclass(frozen=True)
class HeatmapCodec:
    """input_size (the crop size) and heatmap_size as (width, height); sigma in heatmap cells;
    refine one of `REFINEMENTS`; blur: std in cells of the Gaussian that smooths the heatmaps
    before DARK (its "modulation"; 0 for none); layout of the keypoints (one map each)."""

    method: ClassVar[str] = "topdown"  # the family, as `multipose models` shows it

    input_size: tuple[int, int] = (192, 256)
    heatmap_size: tuple[int, int] = (48, 64)
    sigma: float = 2.0
    refine: str = "dark"
    blur: float = 1.0
    flip_shift: int = 0
    layout: Layout | str = COCO17

    def __post_init__(self) -> None:
        object.__setattr__(self, "layout", get_layout(self.layout))
        if self.refine not in REFINEMENTS:
            raise MultiposeError(f"refine must be one of {REFINEMENTS}, not {self.refine!r}")
        sx = self.input_size[0] / self.heatmap_size[0]
        sy = self.input_size[1] / self.heatmap_size[1]
        if not np.isclose(sx, sy):
            raise MultiposeError(
                f"input {self.input_size} and heatmaps {self.heatmap_size} must share one stride"
            )

    @property
    def stride(self) -> float:
        return self.input_size[0] / self.heatmap_size[0]

    def encode(
        self,
        poses: Poses,
        input_size: tuple[int, int] | None = None,
        ignore: np.ndarray | None = None,
    ) -> HeatmapTargets:
        """Targets of people in crops of `input_size` (the codec's), one person per crop, in
        crop pixels; `ignore` does not apply to crops."""
        if input_size is not None and tuple(input_size) != tuple(self.input_size):
            raise MultiposeError(f"crops are {self.input_size}, not {tuple(input_size)}")
        return HeatmapTargets(*self.encode_keypoints(poses.convert(self.layout).keypoints))

    def encode_keypoints(
        self, keypoints: np.ndarray, peak_heights: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Heatmaps (P, K, h, w) and target weights (P, K) for keypoints (P, K, 3) in crop
        pixels. A keypoint that is not labelled or whose centre falls off the heatmap gets
        weight 0 and an empty map."""
        keypoints = np.asarray(keypoints, np.float32)
        w, h = self.heatmap_size
        xy = image_to_map(keypoints[..., :2], self.stride)
        inside = (xy[..., 0] >= -0.5) & (xy[..., 0] <= w - 0.5)
        inside &= (xy[..., 1] >= -0.5) & (xy[..., 1] <= h - 0.5)
        weights = ((keypoints[..., 2] > 0) & inside).astype(np.float32)
        scale = -0.5 / self.sigma**2
        gx = np.exp(scale * (np.arange(w, dtype=np.float32) - xy[..., 0, None]) ** 2)
        gy = np.exp(scale * (np.arange(h, dtype=np.float32) - xy[..., 1, None]) ** 2)
        gy *= (weights if peak_heights is None else weights * peak_heights)[..., None]
        return gy[..., :, None] * gx[..., None, :], weights

    def decode(self, maps: Sequence[np.ndarray]) -> Poses:
        """One person per crop from heatmaps (P, K, h, w), in crop pixels; a person's score is
        the mean score of its found keypoints."""
        keypoints = self.decode_keypoints(maps[0])
        found = keypoints[..., 2] > 0
        scores = keypoints[..., 2].sum(axis=1) / np.maximum(found.sum(axis=1), 1)
        return Poses(keypoints, scores, self.layout)

    def decode_keypoints(self, heatmaps: np.ndarray) -> np.ndarray:
        """Keypoints (P, K, 3) in crop pixels (x, y, heatmap maximum) from heatmaps (P, K, h, w)."""
        heatmaps = np.asarray(heatmaps, np.float32)
        if heatmaps.ndim != 4:
            raise MultiposeError(
                f"heatmaps must be (people, keypoints, h, w), not {heatmaps.shape}"
            )
        if not np.isfinite(heatmaps).all():
            raise MultiposeError("heatmaps contain NaN or infinite values")
        p, k, h, w = heatmaps.shape
        flat = heatmaps.reshape(p, k, h * w)
        index = flat.argmax(axis=2)
        score = np.take_along_axis(flat, index[..., None], axis=2)[..., 0]
        row, col = np.divmod(index, w)
        xy = np.stack([col, row], axis=-1).astype(np.float32)
        if self.refine == "quarter":
            xy += 0.25 * _gradient_sign(heatmaps, row, col)
        elif self.refine == "dark":
            from scipy.ndimage import gaussian_filter  # imported when needed (numba_start)

            maps = (
                gaussian_filter(heatmaps, (0, 0, self.blur, self.blur)) if self.blur else heatmaps
            )
            xy += _taylor_offset(maps, row, col)
        out = np.concatenate([map_to_image(xy, self.stride), score[..., None]], axis=-1)
        out[score <= 0] = 0
        return out

    def flip_merge(
        self, maps: Sequence[np.ndarray], mirrored: Sequence[np.ndarray]
    ) -> list[np.ndarray]:
        """Crops' heatmaps averaged with those of the mirrored crops, mapped back."""
        return [(maps[0] + self.flip_back(mirrored[0], self.layout.flip_index)) / 2]

    def flip_back(self, heatmaps: np.ndarray, flip_index: np.ndarray) -> np.ndarray:
        """Heatmaps of horizontally flipped crops, mapped back onto the unflipped crops: columns
        reversed, left and right keypoints swapped (and shifted by `flip_shift` cells)."""
        back = heatmaps[:, flip_index, :, ::-1]
        if self.flip_shift:
            back = np.concatenate(
                [np.zeros_like(back[..., : self.flip_shift]), back[..., : -self.flip_shift]],
                axis=-1,
            )
        return np.ascontiguousarray(back)


def _neighbours(maps: np.ndarray, row: np.ndarray, col: np.ndarray, dr: int, dc: int):
    """Values at (row + dr, col + dc) of each (person, keypoint) map, clamped to the edges."""
    _, _, h, w = maps.shape
    p, k = np.indices(row.shape)
    return maps[p, k, np.clip(row + dr, 0, h - 1), np.clip(col + dc, 0, w - 1)]


def _gradient_sign(maps: np.ndarray, row: np.ndarray, col: np.ndarray) -> np.ndarray:
    """(P, K, 2) signs of the differences between the right and left, down and up neighbours
    (0 at the edges)."""
    _, _, h, w = maps.shape
    dx = _neighbours(maps, row, col, 0, 1) - _neighbours(maps, row, col, 0, -1)
    dy = _neighbours(maps, row, col, 1, 0) - _neighbours(maps, row, col, -1, 0)
    dx = np.where((col > 0) & (col < w - 1), np.sign(dx), 0)
    dy = np.where((row > 0) & (row < h - 1), np.sign(dy), 0)
    return np.stack([dx, dy], axis=-1).astype(np.float32)


def _taylor_offset(maps: np.ndarray, row: np.ndarray, col: np.ndarray) -> np.ndarray:
    """(P, K, 2) Newton steps -H^-1 g on the log heatmap at the argmax, from central
    differences; 0 where the Hessian is not negative definite or the argmax is on the edge."""
    _, _, h, w = maps.shape
    logs = {
        (dr, dc): np.log(np.maximum(_neighbours(maps, row, col, dr, dc), 1e-10))
        for dr in (-1, 0, 1)
        for dc in (-1, 0, 1)
    }
    gx = 0.5 * (logs[0, 1] - logs[0, -1])
    gy = 0.5 * (logs[1, 0] - logs[-1, 0])
    hxx = logs[0, 1] - 2 * logs[0, 0] + logs[0, -1]
    hyy = logs[1, 0] - 2 * logs[0, 0] + logs[-1, 0]
    hxy = 0.25 * (logs[1, 1] - logs[1, -1] - logs[-1, 1] + logs[-1, -1])
    det = hxx * hyy - hxy * hxy
    ok = (det > 1e-12) & (hxx < 0) & (row > 0) & (row < h - 1) & (col > 0) & (col < w - 1)
    det = np.where(ok, det, 1)
    dx = np.where(ok, -(hyy * gx - hxy * gy) / det, 0)
    dy = np.where(ok, -(hxx * gy - hxy * gx) / det, 0)
    return np.clip(np.stack([dx, dy], axis=-1), -1, 1).astype(np.float32)
