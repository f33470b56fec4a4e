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
from multipose.codecs.peaks import Peaks, check_maps, find_peaks
from multipose.errors import MultiposeError
from multipose.poses import Poses
from multipose.skeleton import COCO18, Layout, get_layout

# (part a, part b) in COCO-18 order and the (x, y) PAF channels of each limb, in CMU's order.
# The first 17 limbs form a tree over the parts; the last two (shoulder-ear) are redundant.
LIMBS = np.array(
    [
        (1, 2),
        (1, 5),
        (2, 3),
        (3, 4),
        (5, 6),
        (6, 7),
        (1, 8),
        (8, 9),
        (9, 10),
        (1, 11),
        (11, 12),
        (12, 13),
        (1, 0),
        (0, 14),
        (14, 16),
        (0, 15),
        (15, 17),
        (2, 16),
        (5, 17),
    ]
)
PAF_CHANNELS = np.array(
    [
        (12, 13),
        (20, 21),
        (14, 15),
        (16, 17),
        (22, 23),
        (24, 25),
        (0, 1),
        (2, 3),
        (4, 5),
        (6, 7),
        (8, 9),
        (10, 11),
        (28, 29),
        (30, 31),
        (34, 35),
        (32, 33),
        (36, 37),
        (18, 19),
        (26, 27),
    ]
)
NUM_TREE_LIMBS = 17
NUM_PARTS = 18


def _mirror_channels() -> tuple[np.ndarray, np.ndarray]:
    """For each PAF channel, the channel of the mirrored image that holds the same limb's field
    (its mirror limb's), and the sign that field takes back (x negated; both negated where the
    mirror limb runs the other way)."""
    flip = COCO18.flip_index
    index = {tuple(limb): i for i, limb in enumerate(LIMBS.tolist())}
    channels, signs = np.zeros(2 * len(LIMBS), int), np.zeros(2 * len(LIMBS), np.float32)
    for i, (a, b) in enumerate(LIMBS.tolist()):
        mirror = index.get((flip[a], flip[b]))
        turn = 1.0 if mirror is not None else -1.0
        mirror = mirror if mirror is not None else index[(flip[b], flip[a])]
        (x, y), (mx, my) = PAF_CHANNELS[i], PAF_CHANNELS[mirror]
        channels[[x, y]] = mx, my
        signs[[x, y]] = -turn, turn
    return channels, signs


_MIRROR_PAF_CHANNELS, _MIRROR_PAF_SIGNS = _mirror_channels()


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
    upsample: factor of the finer grid on which heatmap peaks are also searched, to part
    people whose same part is about a cell apart (2; 1 searches the map's own grid only).
    layout: of the decoded people (COCO-18, or COCO-17).
    """

    method: ClassVar[str] = "openpose"  # the family, as `multipose models` shows it

    stride: int = 8
    sigma: float = 7.0
    paf_width: float = 1.0
    peak_threshold: float = 0.1
    paf_threshold: float = 0.05
    min_pass_ratio: float = 0.8
    num_samples: int = 10
    min_parts: int = 3
    min_mean_score: float = 0.4
    upsample: int = 2
    layout: Layout | str = COCO18

    def __post_init__(self) -> None:
        self.layout = get_layout(self.layout)

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
        h, w = map_size(input_size, self.stride)
        kp = poses.convert(COCO18).keypoints
        points = image_to_map(kp[..., :2], self.stride)
        present = kp[..., 2] > 0
        parts = render_gaussians(points, present, (h, w), self.sigma / self.stride, peak_heights)
        background = 1.0 - parts.max(axis=0, initial=0.0)
        heatmaps = np.concatenate([parts, background[None]], axis=0)
        pafs = self._encode_pafs(points, present, (h, w))
        return PafTargets(heatmaps, pafs, loss_mask(ignore, input_size, self.stride))

    def _encode_pafs(self, points: np.ndarray, present: np.ndarray, shape: tuple[int, int]):
        h, w = shape
        pafs = np.zeros((2 * len(LIMBS), h, w), np.float32)
        counts = np.zeros((h, w), np.int32)
        for (a, b), (cx, cy) in zip(LIMBS, PAF_CHANNELS, strict=True):
            valid = present[:, a] & present[:, b]
            if valid.any():
                ends = np.concatenate([points[valid, a], points[valid, b]], axis=1)
                _accumulate_limbs(
                    ends.astype(np.float64), self.paf_width, pafs[cx], pafs[cy], counts
                )
        return pafs

    # -- flip test --------------------------------------------------------------------------

    def flip_merge(
        self, maps: Sequence[np.ndarray], mirrored: Sequence[np.ndarray]
    ) -> list[np.ndarray]:
        """(N, 19, h, w) heatmaps and (N, 38, h, w) PAFs averaged with those of the mirrored
        batch, mapped back."""
        heatmaps, pafs = self.flip_back(*mirrored)
        return [(maps[0] + heatmaps) / 2, (maps[1] + pafs) / 2]

    @staticmethod
    def flip_back(heatmaps: np.ndarray, pafs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Maps predicted on a mirrored input, (..., 19 or 18, h, w) heatmaps and (..., 38, h, w)
        PAFs, mapped back onto the unmirrored input: columns reversed, left and right parts
        swapped, each limb's field taken from its mirror limb with its x component negated."""
        parts = np.append(COCO18.flip_index, NUM_PARTS)[: heatmaps.shape[-3]]
        back_heat = heatmaps[..., parts, :, ::-1]
        back_pafs = pafs[..., _MIRROR_PAF_CHANNELS, :, ::-1] * _MIRROR_PAF_SIGNS[:, None, None]
        return np.ascontiguousarray(back_heat), np.ascontiguousarray(back_pafs)

    # -- decoding ---------------------------------------------------------------------------

    def decode(self, maps: Sequence[np.ndarray]) -> Poses:
        """People from heatmaps (18 or 19 channels) and PAFs (38 channels) at map resolution,
        in input-image pixels, in the codec's layout."""
        heatmaps, pafs = maps
        heatmaps = check_maps(heatmaps, "heatmaps")
        pafs = check_maps(pafs, "PAFs", 2 * len(LIMBS))
        if heatmaps.shape[0] not in (NUM_PARTS, NUM_PARTS + 1):
            raise MultiposeError(f"heatmaps must have 18 or 19 channels, not {heatmaps.shape[0]}")
        if heatmaps.shape[1:] != pafs.shape[1:]:
            raise MultiposeError(
                f"heatmaps {heatmaps.shape[1:]} and PAFs {pafs.shape[1:]} differ in size"
            )
        peaks = self._find_parts(heatmaps[:NUM_PARTS])
        connections = self._connect(peaks, pafs)
        people = self._assemble(peaks, connections, pafs)
        return people.convert(self.layout)

    def _find_parts(self, heatmaps: np.ndarray) -> Peaks:
        """Part candidates, in map cells: the peaks of the heatmaps, with their sub-pixel
        positions exact for Gaussian peaks. With `upsample` > 1 the heatmaps are also enlarged
        (bicubic) and searched again: the same part of two people about a cell apart makes a
        single peak on the map's own grid but two on the finer one; the extra one is added."""
        peaks = find_peaks(heatmaps, self.peak_threshold)
        u = self.upsample
        if u == 1:
            return peaks
        _, h, w = heatmaps.shape
        fine = np.empty((len(heatmaps), h * u, w * u), np.float32)
        for m, out in zip(heatmaps, fine, strict=True):
            cv2.resize(m, (w * u, h * u), dst=out, interpolation=cv2.INTER_CUBIC)
        fine = find_peaks(fine, self.peak_threshold)
        fine.x, fine.y = (fine.x + 0.5) / u - 0.5, (fine.y + 0.5) / u - 0.5
        fine.col = np.clip(np.rint(fine.x), 0, w - 1).astype(np.intp)  # cells of the map itself
        fine.row = np.clip(np.rint(fine.y), 0, h - 1).astype(np.intp)
        extra = _far_from(fine, peaks, radius=0.75)
        return Peaks.concatenate([peaks, fine.select(extra)])

    def _connect(self, peaks: Peaks, pafs: np.ndarray) -> list[np.ndarray]:
        """Per limb, the matched (peak a, peak b, score) rows, as an (m, 3) array."""
        bounds = peaks.bounds(NUM_PARTS)
        found = []
        for limb, (a, b) in enumerate(LIMBS):
            ia = np.arange(bounds[a], bounds[a + 1])
            ib = np.arange(bounds[b], bounds[b + 1])
            pa, pb, score = self._score_pairs(peaks, pafs, limb, ia, ib)
            taken = _greedy_match(pa, pb, score, len(ia), len(ib))
            found.append(np.stack([ia[pa[taken]], ib[pb[taken]], score[taken]], axis=1))
        return found

    def _score_pairs(
        self, peaks: Peaks, pafs: np.ndarray, limb: int, ia: np.ndarray, ib: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The pairs of candidates (peaks `ia` of the limb's first part, `ib` of its second)
        whose line integral passes, as positions in `ia` and `ib` and their scores."""
        h, w = pafs.shape[1:]
        cx, cy = PAF_CHANNELS[limb]
        t = np.linspace(0.0, 1.0, self.num_samples)
        allowed_failures = self.num_samples - int(np.ceil(self.min_pass_ratio * self.num_samples))
        x, y = peaks.x.astype(np.float64), peaks.y.astype(np.float64)
        return _line_integrals(
            x[ia],
            y[ia],
            x[ib],
            y[ib],
            pafs[cx].ravel(),
            pafs[cy].ravel(),
            w,
            t,
            allowed_failures,
            self.paf_threshold,
            0.5 * h,
        )

    def _assemble(self, peaks: Peaks, connections: list[np.ndarray], pafs: np.ndarray) -> Poses:
        from scipy.sparse import coo_matrix  # imported when needed (numba_start)
        from scipy.sparse.csgraph import connected_components

        m = len(peaks)
        tree = np.concatenate([*connections[:NUM_TREE_LIMBS], np.zeros((0, 3))])
        src, dst = tree[:, 0].astype(np.intp), tree[:, 1].astype(np.intp)
        graph = coo_matrix((np.ones(len(src)), (src, dst)), shape=(m, m))
        _, person = connected_components(graph, directed=False)
        table = np.full((m, NUM_PARTS), -1, np.intp)  # person x part -> peak (at most one)
        table[person, peaks.channel] = np.arange(m)
        limb_score = np.bincount(person[src], weights=tree[:, 2], minlength=m).astype(np.float64)
        person, table, limb_score = self._merge_redundant(person, table, limb_score, connections)
        limb_score += self._fill_shared(table, peaks, pafs)

        has = table >= 0
        part_score = np.where(has, peaks.score[np.maximum(table, 0)], 0.0)
        parts = has.sum(axis=1)
        total = part_score.sum(axis=1) + limb_score
        keep = (parts >= self.min_parts) & (total >= self.min_mean_score * np.maximum(parts, 1))
        table, has, part_score = table[keep], has[keep], part_score[keep]

        xy = map_to_image(peaks.xy, self.stride)[np.maximum(table, 0)]
        keypoints = np.concatenate([xy, part_score[..., None]], axis=-1)
        keypoints[~has] = 0
        scores = part_score.sum(axis=1) / NUM_PARTS
        return Poses(keypoints, scores, COCO18)

    def _fill_shared(self, table: np.ndarray, peaks: Peaks, pafs: np.ndarray) -> np.ndarray:
        """Give people the parts they lack from peaks that other people already hold.

        The same part of two people less than a cell apart makes one peak, which the one-to-one
        matching gives to one of them; the other is left without it and without everything
        beyond it. Going down the limb tree, each person with at least `min_parts` parts that
        has a limb's first part but not its second takes the best candidate whose line
        integral passes, unclaimed candidates first. Returns the added limb scores per row."""
        added = np.zeros(len(table))
        bounds = peaks.bounds(NUM_PARTS)
        for limb, (a, b) in enumerate(LIMBS[:NUM_TREE_LIMBS]):
            people = (table >= 0).sum(axis=1) >= self.min_parts
            lacking = np.flatnonzero(people & (table[:, a] >= 0) & (table[:, b] < 0))
            ib = np.arange(bounds[b], bounds[b + 1])
            if not len(lacking) or not len(ib):
                continue
            ia = table[lacking, a]
            pa, pb, score = self._score_pairs(peaks, pafs, limb, ia, ib)
            claimed = np.isin(ib[pb], table[people, b])
            order = np.lexsort((-score, claimed, pa))  # per person: unclaimed, then best
            first = order[np.unique(pa[order], return_index=True)[1]]
            table[lacking[pa[first]], b] = ib[pb[first]]
            added[lacking[pa[first]]] += score[first]
        return added

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


def _far_from(candidates: Peaks, peaks: Peaks, radius: float) -> np.ndarray:
    """Mask of the candidates farther than `radius` from every peak of their own channel."""
    far = np.ones(len(candidates), bool)
    num_channels = max(candidates.channel.max(initial=-1), peaks.channel.max(initial=-1)) + 1
    cb, pb = candidates.bounds(num_channels), peaks.bounds(num_channels)
    for c in range(num_channels):
        here, there = slice(cb[c], cb[c + 1]), slice(pb[c], pb[c + 1])
        if cb[c] == cb[c + 1] or pb[c] == pb[c + 1]:
            continue
        dx = candidates.x[here, None] - peaks.x[None, there]
        dy = candidates.y[here, None] - peaks.y[None, there]
        far[here] = (dx * dx + dy * dy).min(axis=1) > radius * radius
    return far


@njit(cache=True, nogil=True)
def _accumulate_limbs(ends, width, field_x, field_y, counts):
    """Fill one limb's field: on every cell within `width` of a segment (x0, y0, x1, y1 per
    row of `ends`), the mean over the segments covering it of their unit vectors. Only the
    cells of each segment's bounding box are visited; `counts` is scratch space."""
    h, w = counts.shape
    counts[:] = 0
    for k in range(len(ends)):
        x0, y0, x1, y1 = ends[k, 0], ends[k, 1], ends[k, 2], ends[k, 3]
        dx, dy = x1 - x0, y1 - y0
        length = np.sqrt(dx * dx + dy * dy)
        if length < 1e-6:
            continue
        ux, uy = dx / length, dy / length
        left = max(int(np.floor(min(x0, x1) - width)), 0)
        right = min(int(np.ceil(max(x0, x1) + width)), w - 1)
        top = max(int(np.floor(min(y0, y1) - width)), 0)
        bottom = min(int(np.ceil(max(y0, y1) + width)), h - 1)
        for row in range(top, bottom + 1):
            for col in range(left, right + 1):
                along = (col - x0) * ux + (row - y0) * uy
                across = (col - x0) * uy - (row - y0) * ux
                beyond = max(-along, along - length, 0.0)
                if across * across + beyond * beyond <= width * width:
                    field_x[row, col] += ux
                    field_y[row, col] += uy
                    counts[row, col] += 1
    for row in range(h):
        for col in range(w):
            if counts[row, col] > 1:
                field_x[row, col] /= counts[row, col]
                field_y[row, col] /= counts[row, col]


@njit(cache=True, nogil=True)
def _line_integrals(ax, ay, bx, by, field_x, field_y, width, t, allowed_failures, threshold, reach):
    """Line integrals of a limb's field between every pair of candidates (a, b).

    The field is sampled at the cell nearest to each of the points (1 - t) a + t b and
    projected on the unit vector from a to b; a pair is kept if at most `allowed_failures`
    samples are at or below `threshold` and its mean projection plus the distance prior
    min(reach / |b - a| - 1, 0) is positive. A pair is dropped at its first failure too many,
    which is what keeps crowds cheap. Returns the kept (a index, b index, score)."""
    na, nb, ns = len(ax), len(bx), len(t)
    pa = np.empty(na * nb, np.intp)
    pb = np.empty(na * nb, np.intp)
    score = np.empty(na * nb, np.float64)
    kept = 0
    for i in range(na):
        for j in range(nb):
            dx, dy = bx[j] - ax[i], by[j] - ay[i]
            norm = np.sqrt(dx * dx + dy * dy)
            if norm < 1e-6:
                continue
            ux, uy = dx / norm, dy / norm
            failures, total = 0, 0.0
            for s in range(ns):
                col = int(np.rint(ax[i] + t[s] * dx))
                row = int(np.rint(ay[i] + t[s] * dy))
                value = field_x[row * width + col] * ux + field_y[row * width + col] * uy
                total += value
                if value <= threshold:
                    failures += 1
                    if failures > allowed_failures:
                        break
            if failures > allowed_failures:
                continue
            mean = total / ns + min(reach / norm - 1.0, 0.0)
            if mean > 0:
                pa[kept], pb[kept], score[kept] = i, j, mean
                kept += 1
    return pa[:kept], pb[:kept], score[:kept]


@njit(cache=True, nogil=True)
def _greedy_match(pa, pb, score, na, nb):
    """Indices of the pairs a one-to-one greedy matching takes: in descending score order
    (ties: the earlier pair), each pair whose two ends are both still free."""
    order = np.argsort(-score, kind="mergesort")
    used_a = np.zeros(na, np.bool_)
    used_b = np.zeros(nb, np.bool_)
    taken = np.empty(len(order), np.intp)
    count = 0
    for k in order:
        if not used_a[pa[k]] and not used_b[pb[k]]:
            used_a[pa[k]] = True
            used_b[pb[k]] = True
            taken[count] = k
            count += 1
    return taken[:count]
