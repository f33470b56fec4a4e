"""OpenPose's Part Affinity Field codec (Cao et al., CVPR 2017), CMU COCO-18 channel layout.

Targets: 19 heatmaps (a Gaussian per part, pixel-wise max over people, then the background
channel 1 - max) and 38 PAF channels (for each of 19 limbs, the unit vector from its first to
its second part on the cells within `paf_width` cells of the segment (its ends included, so
that even a limb shorter than a cell has its field), averaged over the people
covering a cell), plus a loss mask.

Decoding: heatmap peaks (3x3 NMS, sub-pixel); for each limb, the line integral of its PAF
between every pair of candidate parts, with a distance prior; greedy one-to-one matching limb by
limb; people as the connected components of the 17 tree limbs (a tree over part types with
one-to-one matchings cannot join two peaks of one type), then the redundant shoulder-ear links
merge fragments that share no part type; weak people are pruned.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from multipose.codecs.gaussian import image_to_map, map_to_image, render_gaussians
from multipose.codecs.peaks import Peaks, check_maps, find_peaks
from multipose.errors import MultiposeError
from multipose.poses import Poses
from multipose.skeleton import COCO18, Layout, get_layout

# (part a, part b) in COCO-18 order and the (x, y) PAF channels of each limb, in CMU's order.
# The first 17 limbs form a tree over the parts; the last two (shoulder-ear) are redundant.
LIMBS = np.array([
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11),
    (11, 12), (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17), (2, 16), (5, 17),
])  # fmt: skip
PAF_CHANNELS = np.array([
    (12, 13), (20, 21), (14, 15), (16, 17), (22, 23), (24, 25), (0, 1), (2, 3), (4, 5),
    (6, 7), (8, 9), (10, 11), (28, 29), (30, 31), (34, 35), (32, 33), (36, 37), (18, 19),
    (26, 27),
])  # fmt: skip
NUM_TREE_LIMBS = 17
NUM_PARTS = 18


@dataclass
class PafTargets:
    """heatmaps (19, h, w) with background last; pafs (38, h, w); mask (h, w), 1 where the
    loss counts and 0 over crowds and people without keypoints."""

    heatmaps: np.ndarray
    pafs: np.ndarray
    mask: np.ndarray


@dataclass
class PafCodec:
    """Encoder and decoder of OpenPose heatmaps and Part Affinity Fields.

    stride: input pixels per map cell. sigma: Gaussian std of the part heatmaps in input
    pixels (7 in CMU's training). paf_width: half-width of a limb's PAF band in cells.

    Decoding thresholds (defaults after pytorch-openpose and the CMU C++ code):
    peak_threshold: least heatmap value of a part candidate (0.1).
    paf_threshold: least PAF projection for a sample along a limb to count (0.05).
    min_pass_ratio: share of samples that must count for a pair to be a candidate limb (0.8).
    num_samples: samples of each line integral (10).
    min_parts: fewest parts a person may have (3); min_mean_score: least (sum of part and
    limb scores) / parts (0.4).
    """

    stride: int = 8
    sigma: float = 7.0
    paf_width: float = 1.0
    peak_threshold: float = 0.1
    paf_threshold: float = 0.05
    min_pass_ratio: float = 0.8
    num_samples: int = 10
    min_parts: int = 3
    min_mean_score: float = 0.4

    def map_size(self, input_size: tuple[int, int]) -> tuple[int, int]:
        """(height, width) of the maps of an input of (width, height) pixels."""
        width, height = input_size
        return -(-height // self.stride), -(-width // self.stride)

    # -- encoding ---------------------------------------------------------------------------

    def encode(
        self,
        poses: Poses,
        input_size: tuple[int, int],
        ignore: np.ndarray | None = None,
        peak_heights: np.ndarray | None = None,
    ) -> PafTargets:
        """Targets for the people of `poses` (any layout with shoulders; the neck is derived
        from them) in an input of `input_size` = (width, height) pixels.

        ignore: optional (height, width) bool mask of input pixels to leave out of the loss.
        peak_heights: optional (N, 18) peak values of the part Gaussians (default 1)."""
        h, w = self.map_size(input_size)
        kp = poses.convert(COCO18).keypoints
        points = image_to_map(kp[..., :2], self.stride)
        present = kp[..., 2] > 0
        parts = render_gaussians(points, present, (h, w), self.sigma / self.stride, peak_heights)
        background = 1.0 - parts.max(axis=0, initial=0.0)
        heatmaps = np.concatenate([parts, background[None]], axis=0)
        return PafTargets(heatmaps, self._encode_pafs(points, present, (h, w)),
                          self._mask(ignore, input_size, (h, w)))  # fmt: skip

    def _encode_pafs(self, points: np.ndarray, present: np.ndarray, shape: tuple[int, int]):
        h, w = shape
        pafs = np.zeros((2 * len(LIMBS), h, w), np.float32)
        cols, rows = np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)
        for (a, b), (cx, cy) in zip(LIMBS, PAF_CHANNELS, strict=True):
            start, end = points[:, a], points[:, b]
            length = np.linalg.norm(end - start, axis=1)
            valid = present[:, a] & present[:, b] & (length > 1e-6)
            if not valid.any():
                continue
            start, length = start[valid], length[valid]
            unit = (end[valid] - start) / length[:, None]
            dx = cols[None, :] - start[:, :1]  # (n, w)
            dy = rows[None, :] - start[:, 1:]  # (n, h)
            along = dx[:, None, :] * unit[:, None, 0:1] + dy[:, :, None] * unit[:, None, 1:2]
            across = dx[:, None, :] * unit[:, None, 1:2] - dy[:, :, None] * unit[:, None, 0:1]
            beyond = np.maximum(-along, along - length[:, None, None])
            on = across**2 + np.maximum(beyond, 0) ** 2 <= self.paf_width**2
            count = on.sum(axis=0)
            covered = np.maximum(count, 1).astype(np.float32)
            onf = on.astype(np.float32)
            pafs[cx] = np.tensordot(unit[:, 0], onf, axes=1) / covered
            pafs[cy] = np.tensordot(unit[:, 1], onf, axes=1) / covered
        return pafs

    def _mask(self, ignore, input_size, shape) -> np.ndarray:
        h, w = shape
        if ignore is None:
            return np.ones((h, w), np.float32)
        width, height = input_size
        if ignore.shape != (height, width):
            raise MultiposeError(
                f"ignore mask of shape {ignore.shape} does not match the input ({height}, {width})"
            )
        padded = np.zeros((h * self.stride, w * self.stride), np.float32)
        padded[:height, :width] = ignore
        share = cv2.resize(padded, (w, h), interpolation=cv2.INTER_AREA)
        return (share < 0.5).astype(np.float32)

    # -- decoding ---------------------------------------------------------------------------

    def decode(
        self, heatmaps: np.ndarray, pafs: np.ndarray, layout: Layout | str = COCO18
    ) -> Poses:
        """People from heatmaps (18 or 19 channels) and PAFs (38 channels) at map resolution,
        in input-image pixels, in `layout` (COCO-18 by default, or COCO-17)."""
        heatmaps = check_maps(heatmaps, "heatmaps")
        pafs = check_maps(pafs, "PAFs", 2 * len(LIMBS))
        if heatmaps.shape[0] not in (NUM_PARTS, NUM_PARTS + 1):
            raise MultiposeError(f"heatmaps must have 18 or 19 channels, not {heatmaps.shape[0]}")
        if heatmaps.shape[1:] != pafs.shape[1:]:
            raise MultiposeError(
                f"heatmaps {heatmaps.shape[1:]} and PAFs {pafs.shape[1:]} differ in size"
            )
        peaks = find_peaks(heatmaps[:NUM_PARTS], self.peak_threshold)
        connections = self._connect(peaks, pafs)
        people = self._assemble(peaks, connections)
        return people.convert(get_layout(layout))

    def _connect(self, peaks: Peaks, pafs: np.ndarray) -> list[np.ndarray]:
        """Per limb, the matched (peak a, peak b, score) rows, as an (m, 3) array."""
        bounds = peaks.bounds(NUM_PARTS)
        xy = peaks.xy
        h, w = pafs.shape[1:]
        t = np.linspace(0.0, 1.0, self.num_samples, dtype=np.float32)
        found = []
        for (a, b), (cx, cy) in zip(LIMBS, PAF_CHANNELS, strict=True):
            ia = np.arange(bounds[a], bounds[a + 1])
            ib = np.arange(bounds[b], bounds[b + 1])
            if not len(ia) or not len(ib):
                found.append(np.zeros((0, 3)))
                continue
            start, delta = xy[ia][:, None, :], xy[ib][None, :, :] - xy[ia][:, None, :]
            norm = np.sqrt((delta**2).sum(-1))
            unit = delta / np.maximum(norm, 1e-6)[..., None]
            samples = start[:, :, None, :] + t[:, None] * delta[:, :, None, :]  # na, nb, S, 2
            col = np.clip(np.rint(samples[..., 0]).astype(np.intp), 0, w - 1)
            row = np.clip(np.rint(samples[..., 1]).astype(np.intp), 0, h - 1)
            proj = pafs[cx][row, col] * unit[..., None, 0] + pafs[cy][row, col] * unit[..., None, 1]
            prior = np.minimum(0.5 * h / np.maximum(norm, 1e-6) - 1.0, 0.0)
            score = proj.mean(-1) + prior
            passing = (proj > self.paf_threshold).mean(-1) >= self.min_pass_ratio
            ok = passing & (score > 0) & (norm > 1e-6)
            pa, pb = np.nonzero(ok)
            found.append(_greedy_match(ia[pa], ib[pb], score[pa, pb]))
        return found

    def _assemble(self, peaks: Peaks, connections: list[np.ndarray]) -> Poses:
        m = len(peaks)
        tree = np.concatenate(connections[:NUM_TREE_LIMBS] + [np.zeros((0, 3))])
        src, dst = tree[:, 0].astype(np.intp), tree[:, 1].astype(np.intp)
        graph = coo_matrix((np.ones(len(src)), (src, dst)), shape=(m, m))
        _, person = connected_components(graph, directed=False)
        table = np.full((m, NUM_PARTS), -1, np.intp)  # person x part -> peak (at most one)
        table[person, peaks.channel] = np.arange(m)
        limb_score = np.bincount(person[src], weights=tree[:, 2], minlength=m)
        person, table, limb_score = self._merge_redundant(person, table, limb_score, connections)

        has = table >= 0
        part_score = np.where(has, peaks.score[np.maximum(table, 0)], 0.0)
        parts = has.sum(axis=1)
        total = part_score.sum(axis=1) + limb_score
        keep = (parts >= self.min_parts) & (total >= self.min_mean_score * np.maximum(parts, 1))
        table, has, part_score, parts = table[keep], has[keep], part_score[keep], parts[keep]

        xy = map_to_image(peaks.xy, self.stride)[np.maximum(table, 0)]
        keypoints = np.concatenate([xy, part_score[..., None]], axis=-1)
        keypoints[~has] = 0
        scores = part_score.sum(axis=1) / NUM_PARTS
        return Poses(keypoints, scores, COCO18)

    @staticmethod
    def _merge_redundant(person, table, limb_score, connections):
        """Join the fragments that a shoulder-ear link connects when they share no part type
        (the ears of a person whose neck, hence head link, is missing)."""
        for rows in connections[NUM_TREE_LIMBS:]:
            for a, b, score in rows:
                pa, pb = person[int(a)], person[int(b)]
                if pa == pb or ((table[pa] >= 0) & (table[pb] >= 0)).any():
                    continue
                table[pa] = np.maximum(table[pa], table[pb])
                table[pb] = -1
                limb_score[pa] += limb_score[pb] + score
                limb_score[pb] = 0
                person[person == pb] = pa
        return person, table, limb_score


def _greedy_match(a: np.ndarray, b: np.ndarray, score: np.ndarray) -> np.ndarray:
    """One-to-one matching taking candidate edges in descending score order (ties by
    position), as rows (a, b, score). Computed in rounds: an edge that is the best remaining
    one at both of its ends is what the sequential greedy would take."""
    order = np.lexsort((b, a, -score))
    a, b, score = a[order], b[order], score[order]
    taken = []
    alive = np.ones(len(a), bool)
    while alive.any():
        idx = np.flatnonzero(alive)
        # The first alive edge at each end is its best (edges are in descending order).
        first_a = idx[np.unique(a[idx], return_index=True)[1]]
        first_b = idx[np.unique(b[idx], return_index=True)[1]]
        best = np.intersect1d(first_a, first_b, assume_unique=True)
        taken.append(best)
        used_a, used_b = np.isin(a, a[best]), np.isin(b, b[best])
        alive &= ~(used_a | used_b)
    chosen = np.concatenate(taken) if taken else np.zeros(0, np.intp)
    return np.stack([a[chosen], b[chosen], score[chosen]], axis=1)
