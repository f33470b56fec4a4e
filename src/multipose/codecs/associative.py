"""Associative Embedding codec (Newell et al., NIPS 2017; HigherHRNet, Cheng et al., CVPR 2020).

The network predicts, per joint, a heatmap and a tag map; the tags of one person's joints are
pulled together and those of different people pushed apart by the grouping loss, so decoding
groups joint detections by tag. Targets: Gaussian heatmaps (pixel-wise max over people) at one
or more strides, and for the loss the flat map index of every labelled joint of every person,
padded to a fixed number of people with a validity mask.

Decoding: heatmap peaks (5x5 NMS, sub-pixel, at most `max_per_joint` per joint); joints taken in
the reference order, each joint's detections matched to the people so far by the Hungarian
algorithm on the cost round(|tag - person's mean tag|) * 100 - score (a detection further than
`tag_threshold` from every person starts a new one); people with fewer than `min_joints`
grouped joints or a mean joint score under `min_score` are dropped; then each person's missing
joints are looked for on the heatmap near its mean tag.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import cv2
import numpy as np
from numba import njit

from multipose.codecs.gaussian import (
    image_to_map,
    loss_mask,
    map_size,
    map_to_image,
    render_gaussians,
)
from multipose.codecs.peaks import check_maps, find_peaks
from multipose.errors import MultiposeError
from multipose.poses import Poses
from multipose.skeleton import COCO17, Layout

# Order in which joints are grouped (HigherHRNet): head, shoulders, hips, then the limbs.
JOINT_ORDER = (0, 1, 2, 3, 4, 5, 6, 11, 12, 7, 8, 9, 10, 13, 14, 15, 16)
_UNMATCHED = 1e10


@dataclass
class AeTargets:
    """heatmaps: one (17, h, w) array per stride; masks: one (h, w) array per stride, 1 where
    the loss counts; joints: (max_people, 17) flat indices into the first stride's maps of the
    labelled joints inside the map; valid: (max_people, 17) bool, which of those are real."""

    heatmaps: list[np.ndarray]
    masks: list[np.ndarray]
    joints: np.ndarray
    valid: np.ndarray


@dataclass
class AssociativeCodec:
    """strides: one or two output strides (HigherHRNet: 4 and 2); sigma: Gaussian std in cells
    of each map; max_people: padding of the joint arrays for the loss.

    Decoding, defaults after HigherHRNet: detection_threshold 0.1 (least heatmap value of a
    detection), nms_window 5 (peaks are maxima of a 5x5 window), tag_threshold 1.0 (farthest
    tag distance that joins a person), max_per_joint
    (128, room for crowds of 100; HigherHRNet's 30 collapses them), min_joints (1) and
    min_score (0.2: least mean heatmap value of a person's grouped joints; noise peaks just
    over the detection threshold that group by their background tags fall below it), and
    refine (look for missing joints near each person's tag)."""

    method: ClassVar[str] = "ae"  # the family, as `multipose models` shows it

    strides: tuple[int, ...] = (4,)
    sigma: float = 2.0
    max_people: int = 128
    detection_threshold: float = 0.1
    nms_window: int = 5
    tag_threshold: float = 1.0
    max_per_joint: int = 128
    min_joints: int = 1
    min_score: float = 0.2
    refine: bool = True

    @property
    def layout(self) -> Layout:
        return COCO17

    @property
    def stride(self) -> int:
        return self.strides[0]

    # -- encoding ---------------------------------------------------------------------------

    def encode(
        self,
        poses: Poses,
        input_size: tuple[int, int],
        ignore: np.ndarray | None = None,
        peak_heights: np.ndarray | None = None,
    ) -> AeTargets:
        """Targets for the people of `poses` (COCO-17) in an input of (width, height) pixels;
        ignore: optional (height, width) bool mask of input pixels outside the loss."""
        kp = poses.convert(COCO17).keypoints
        if len(kp) > self.max_people:
            raise MultiposeError(
                f"{len(kp)} people in one image; the codec holds at most {self.max_people}"
            )
        heatmaps, masks = [], []
        for stride in self.strides:
            h, w = map_size(input_size, stride)
            points = image_to_map(kp[..., :2], stride)
            heatmaps.append(
                render_gaussians(points, kp[..., 2] > 0, (h, w), self.sigma, peak_heights)
            )
            masks.append(loss_mask(ignore, input_size, stride))
        joints, valid = self._joint_indices(kp, input_size)
        return AeTargets(heatmaps, masks, joints, valid)

    def _joint_indices(self, kp: np.ndarray, input_size: tuple[int, int]):
        h, w = map_size(input_size, self.strides[0])
        cells = np.rint(image_to_map(kp[..., :2], self.strides[0])).astype(np.int64)
        inside = (cells[..., 0] >= 0) & (cells[..., 0] < w) & (cells[..., 1] >= 0)
        inside &= cells[..., 1] < h
        joints = np.zeros((self.max_people, kp.shape[1]), np.int64)
        valid = np.zeros((self.max_people, kp.shape[1]), bool)
        valid[: len(kp)] = (kp[..., 2] > 0) & inside
        joints[: len(kp)] = np.where(valid[: len(kp)], cells[..., 1] * w + cells[..., 0], 0)
        return joints, valid

    def render_tags(
        self, poses: Poses, input_size: tuple[int, int], tags: np.ndarray, stride: int | None = None
    ) -> np.ndarray:
        """Ideal (17, h, w) tag maps: around each of a person's joints, over the cells where
        its Gaussian is the highest, the person's tag (`tags`, one value per person); 0
        elsewhere. What a perfectly trained network would predict; used by the oracle."""
        stride = stride or self.strides[0]
        kp = poses.convert(COCO17).keypoints
        points = image_to_map(kp[..., :2], stride)
        _, owner = render_gaussians(
            points, kp[..., 2] > 0, map_size(input_size, stride), self.sigma, owners=True
        )
        values = np.append(np.asarray(tags, np.float32), np.float32(0))  # owner -1 -> 0
        return values[owner]

    # -- decoding ---------------------------------------------------------------------------

    def decode(self, maps: Sequence[np.ndarray]) -> Poses:
        """COCO-17 people in input pixels from heatmaps (17, h, w) and tags (17, h, w) or
        (17, h, w, D) (D > 1 after flip or multi-scale aggregation) at the first stride; with a
        third map, heatmaps at the second stride (HigherHRNet's), the first two are upsampled
        to it (bilinear, cells centred), the heatmaps averaged, and decoding runs there."""
        heatmaps, tags, *finer = maps
        stride = self.strides[0]
        if finer:
            size = finer[0].shape[:0:-1]
            heatmaps = (_resize(np.asarray(heatmaps, np.float32), size) + finer[0]) / 2
            tags = _resize_tags(np.asarray(tags, np.float32), size)
            stride = self.strides[-1]
        heatmaps = check_maps(heatmaps, "heatmaps", COCO17.num_keypoints)
        tags = _with_tag_axis(np.asarray(tags, np.float32))
        if tags.shape[:3] != heatmaps.shape:
            raise MultiposeError(
                f"tag maps {tags.shape[:3]} do not match heatmaps {heatmaps.shape}"
            )
        if not np.isfinite(tags).all():
            raise MultiposeError("tag maps contain NaN or infinite values")
        peaks = find_peaks(heatmaps, self.detection_threshold, self.max_per_joint, self.nms_window)
        peak_tags = tags[peaks.channel, peaks.row, peaks.col]  # (M, D)
        table = self._group(peaks, peak_tags)  # (P, 17) peak index or -1
        grouped = (table >= 0).sum(axis=1)
        mean_score = np.where(table >= 0, peaks.score[table], 0).sum(axis=1) / grouped
        table = table[(grouped >= self.min_joints) & (mean_score >= self.min_score)]
        keypoints = np.zeros((len(table), 17, 3), np.float32)
        found = table >= 0
        keypoints[found, 0] = peaks.x[table[found]]
        keypoints[found, 1] = peaks.y[table[found]]
        keypoints[found, 2] = peaks.score[table[found]]
        if self.refine and len(table):
            mean_tags = _mean_tags(table, peak_tags)
            _refine_missing(heatmaps, tags, mean_tags, keypoints)
        keypoints[..., :2] = map_to_image(keypoints[..., :2], stride)
        scores = keypoints[..., 2].mean(axis=1)
        return Poses(keypoints, scores, COCO17)

    def _group(self, peaks, peak_tags: np.ndarray) -> np.ndarray:
        from scipy.optimize import linear_sum_assignment  # imported when needed (numba_start)

        bounds = peaks.bounds(COCO17.num_keypoints)
        people: list[np.ndarray] = []  # per person: (17,) peak indices
        tag_sums = np.zeros((0, peak_tags.shape[1]))
        counts = np.zeros(0)
        for joint in JOINT_ORDER:
            detections = np.arange(bounds[joint], bounds[joint + 1])
            if not len(detections):
                continue
            tags = peak_tags[detections]
            new = detections
            if len(people):
                means = tag_sums / counts[:, None]
                distance = np.linalg.norm(tags[:, None, :] - means[None, :, :], axis=2)
                cost = np.round(distance) * 100 - peaks.score[detections, None]
                # a pair too far apart to join costs what a new person does, so that it never
                # displaces a pair that can join (ties of equal rounded costs otherwise can)
                cost[distance >= self.tag_threshold] = _UNMATCHED
                square = np.full((len(detections), len(detections) + len(people)), _UNMATCHED)
                square[:, : len(people)] = cost
                rows, cols = linear_sum_assignment(square)
                joined = (cols < len(people)) & (
                    distance[rows, np.minimum(cols, len(people) - 1)] < self.tag_threshold
                )
                for d, p in zip(rows[joined], cols[joined], strict=True):
                    people[p][joint] = detections[d]
                tag_sums[cols[joined]] += tags[rows[joined]]
                counts[cols[joined]] += 1
                new = detections[np.setdiff1d(np.arange(len(detections)), rows[joined])]
            for d in new:
                person = np.full(COCO17.num_keypoints, -1, np.int64)
                person[joint] = d
                people.append(person)
            tag_sums = np.concatenate([tag_sums, peak_tags[new]])
            counts = np.concatenate([counts, np.ones(len(new))])
        if not people:
            return np.zeros((0, COCO17.num_keypoints), np.int64)
        return np.stack(people)

    # -- flip test --------------------------------------------------------------------------

    def flip_merge(
        self, maps: Sequence[np.ndarray], mirrored: Sequence[np.ndarray]
    ) -> list[np.ndarray]:
        """A batch's heatmaps (of each stride) averaged with the mirrored batch's, mapped
        back; its tags (N, 17, h, w[, D]) and the mirror's concatenated along a last axis."""
        heatmaps, tags, *finer = maps
        back = [m[:, COCO17.flip_index, :, ::-1] for m in mirrored]
        tags = np.concatenate([_with_tag_axis(tags, 4), _with_tag_axis(back[1], 4)], axis=-1)
        merged = [(heatmaps + back[0]) / 2, tags]
        return merged + [(m + b) / 2 for m, b in zip(finer, back[2:], strict=True)]


def _mean_tags(table: np.ndarray, peak_tags: np.ndarray) -> np.ndarray:
    found = table >= 0
    sums = np.where(found[..., None], peak_tags[np.maximum(table, 0)], 0).sum(axis=1)
    return sums / np.maximum(found.sum(axis=1), 1)[:, None]


def _refine_missing(heatmaps, tags, mean_tags, keypoints) -> None:
    """Fill each person's missing joints with the best cell of heatmap - round(tag distance
    to the person's mean tag), searched over the person's found joints' box grown by its own
    size, its value the heatmap there; moved a quarter cell towards the higher neighbour."""
    found = keypoints[..., 2] > 0
    lo = np.where(found[..., None], keypoints[..., :2], np.inf).min(axis=1)
    hi = np.where(found[..., None], keypoints[..., :2], -np.inf).max(axis=1)
    reach = np.maximum(hi - lo, 4.0).max(axis=1, keepdims=True)
    windows = np.concatenate([lo - reach, hi + reach], axis=1)
    _refine_kernel(heatmaps, tags, mean_tags.astype(np.float32), windows, keypoints)


@njit(cache=True, nogil=True)
def _refine_kernel(heatmaps, tags, mean_tags, windows, keypoints):
    num_joints, h, w = heatmaps.shape
    dims = tags.shape[3]
    for p in range(len(keypoints)):
        x0, y0 = max(int(windows[p, 0]), 0), max(int(windows[p, 1]), 0)
        x1, y1 = min(int(windows[p, 2]) + 1, w - 1), min(int(windows[p, 3]) + 1, h - 1)
        for j in range(num_joints):
            if keypoints[p, j, 2] > 0:
                continue
            best, best_row, best_col = -np.inf, -1, -1
            for row in range(y0, y1 + 1):
                for col in range(x0, x1 + 1):
                    d2 = 0.0
                    for k in range(dims):
                        diff = tags[j, row, col, k] - mean_tags[p, k]
                        d2 += diff * diff
                    value = heatmaps[j, row, col] - np.round(np.sqrt(d2))
                    if value > best:
                        best, best_row, best_col = value, row, col
            if best_row < 0 or heatmaps[j, best_row, best_col] <= 0:
                continue
            x, y = float(best_col), float(best_row)
            if 0 < best_col < w - 1:
                x += 0.25 * np.sign(
                    heatmaps[j, best_row, best_col + 1] - heatmaps[j, best_row, best_col - 1]
                )
            if 0 < best_row < h - 1:
                y += 0.25 * np.sign(
                    heatmaps[j, best_row + 1, best_col] - heatmaps[j, best_row - 1, best_col]
                )
            keypoints[p, j, 0], keypoints[p, j, 1] = x, y
            keypoints[p, j, 2] = heatmaps[j, best_row, best_col]


def scale_merge(maps: list[tuple[np.ndarray, np.ndarray]], size: tuple[int, int]):
    """(heatmaps, tags) predicted at several input scales, each resized (bilinear) to `size` =
    (width, height): heatmaps averaged, tags concatenated along a last axis."""
    heat, tag = [], []
    for heatmaps, tags in maps:
        heat.append(_resize(heatmaps, size))
        tag.append(_resize_tags(tags, size))
    return np.mean(heat, axis=0), np.concatenate(tag, axis=-1)


def _with_tag_axis(tags: np.ndarray, plain_ndim: int = 3) -> np.ndarray:
    """Tags with a last axis of tag dimensions (added where they have `plain_ndim` axes)."""
    return tags[..., None] if tags.ndim == plain_ndim else tags


def _resize_tags(tags: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Tag maps (17, h, w[, D]) resized (bilinear) to `size`, as (17, h', w', D)."""
    tags = _with_tag_axis(tags)
    return np.stack([_resize(tags[..., d], size) for d in range(tags.shape[-1])], -1)


def _resize(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return np.stack([cv2.resize(m, size, interpolation=cv2.INTER_LINEAR) for m in maps])
