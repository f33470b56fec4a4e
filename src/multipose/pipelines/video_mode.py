"""Video mode for the pipelines built on BlazePose (BlazePose itself and the hybrid): people are
followed from frame to frame as mediapipe's own video mode does. Each person found is looked
for in the next frame in the ROI of their own alignment landmarks (one landmark-network crop
per person); the whole pipeline (its detectors, and the hybrid's bottom-up pass) runs only
every `every` frames, and on the frame after someone was lost: its people replace those
followed that they match, and the new ones are followed from then on. A person the landmark
network misses keeps their ROI and is looked for again there for `patience` frames before
being dropped (lost), so one bad frame loses nobody for good. Between full passes, the keypoints
of each person followed are moved by the offsets by which the last full pass (for the hybrid,
its fusion with the bottom-up keypoints) differed from BlazePose's own, turned and scaled with
the person's ROI (BlazePose's bias for that person; at each full pass, the mean of the new
offsets and the last). The hybrid's people that the
landmark network cannot follow (small, lying) are followed by its bottom-up model on a crop
about each. Other pipelines have no video mode: they estimate each frame as a photo."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import torch

from multipose.codecs.blazepose import rois_from_alignment
from multipose.pipelines.base import Pipeline, one_by_one
from multipose.pipelines.blazepose import ALIGNMENT_LANDMARKS, BlazePosePipeline, _distinct_people
from multipose.pipelines.blazepose_regions import box_rois, hip_aligned_rois
from multipose.pipelines.hybrid import HybridPipeline, rescored
from multipose.poses import Poses
from multipose.similarity import common_oks, greedy_pairs
from multipose.skeleton import BLAZEPOSE33, COCO17
from multipose.tracking import distinct

SAME = 0.3  # a person of the whole pipeline this alike to one followed is that one
# A new person is followed by BlazePose only where its landmarks in their first ROI are this
# alike to them (else it may follow someone beside or behind them, or a poor guess that the full
# pass corrected): on the tuning clips (bench/results/video_tuning.md) video mode's AP summed over
# the six 1.45 without this check, 1.50 / 1.53 / 1.54 at 0.3 / 0.5 / 0.7, switches 12 / 15 / 9 / 17.
AGREE = 0.5
FARTHEST = 0.05  # offsets from BlazePose's keypoints carried over, at most (ROI sides)
BLEND = 0.5  # a full pass's offsets for someone followed already: their mean with the last
HIPS, SHOULDERS = (23, 24), (11, 12)


def follows(pipeline: Pipeline) -> bool:
    """Whether `pipeline` has a video mode."""
    return isinstance(pipeline, (BlazePosePipeline, HybridPipeline))


class VideoMode:
    """A pipeline with a video mode (see `follows`) run on successive frames of one video;
    `batch` and `__call__` as a pipeline's, `timing` adding the whole pipeline's when it ran.
    `full_passes` counts the frames on which the whole pipeline ran."""

    def __init__(self, pipeline: Pipeline, every: int = 10, patience: int = 3) -> None:
        self.pipeline, self.every, self.patience = pipeline, max(every, 1), patience
        self.blazepose: BlazePosePipeline = getattr(pipeline, "blazepose", pipeline)
        self.spec = pipeline.spec
        self.rois = np.zeros((0, 4))  # (x, y, side, rotation) of each person followed
        self.misses = np.zeros(0, int)  # frames each has been missed in a row
        self.ids = np.zeros(0, np.int64)  # the id each is followed under
        # what the last full pass made of each: its keypoints' offsets from BlazePose's
        # (people, 33, 2) in ROI units (turned with the ROI, per unit of its side)
        self.offsets = np.zeros((0, BLAZEPOSE33.num_keypoints, 2))
        self.next_id = 0
        self.others = Poses.empty(BLAZEPOSE33)  # the hybrid's people BlazePose cannot follow
        self.other_misses = np.zeros(0, int)
        self.others_seen = np.zeros(0, bool)  # found again since the full pass that found them
        self.others_lost = False
        self.since_full: int | None = None
        self.lost = False
        self.full_passes = 0
        self.timing = {"network_ms": 0.0, "decode_ms": 0.0}

    def batch(
        self, images: Sequence[np.ndarray], image_ids: Sequence[int | None] | None = None
    ) -> list[Poses]:
        return one_by_one(self, images, image_ids)

    @torch.inference_mode()
    def __call__(self, image: np.ndarray, image_id: int | None = None) -> Poses:
        start = time.perf_counter()
        people, network_s = self._follow(image), self.blazepose._network_s
        full = self.since_full is None or self.since_full + 1 >= self.every
        full = full or self.lost or self.others_lost
        self.others_lost = False
        self.since_full = None if self.since_full is None else self.since_full + 1
        extra = {"network_ms": 0.0, "decode_ms": 0.0}
        if full:
            found = self.pipeline(image, image_id)
            extra = dict(self.pipeline.timing)
            followed = Poses.concatenate([people, self.others])
            similar = common_oks(found.keypoints, followed.keypoints)
            known = similar.max(axis=1, initial=0.0) > SAME
            ids = np.arange(self.next_id, self.next_id + len(found))
            self.next_id += len(found)
            for person in np.argsort(-similar.max(axis=1, initial=0.0), kind="stable"):
                if known[person] and followed.track_ids[similar[person].argmax()] not in ids:
                    ids[person] = followed.track_ids[similar[person].argmax()]
            found = Poses(found.keypoints, found.scores, found.layout, found.boxes, ids)
            self._carry(found, people, self.rois[: len(people)], BLEND)
            unmatched = similar[:, : len(people)].max(axis=0, initial=0.0) <= SAME
            people = Poses.concatenate([found, people[unmatched]])
            followed_ids = set(self.ids.tolist())
            new = found[np.array([i not in followed_ids for i in ids], bool)]
            rois, followable = self._first_rois(image, new)
            self.rois = np.concatenate([self.rois, rois[followable]])
            self.misses = np.concatenate([self.misses, np.zeros(followable.sum(), int)])
            self.ids = np.concatenate([self.ids, new.track_ids[followable]])
            self.offsets = np.concatenate(
                [self.offsets, np.zeros((followable.sum(), *self.offsets.shape[1:]))]
            )
            if followable.any():
                self._carry(new, *self._look(image, rois[followable], new.track_ids[followable]))
            found = new
            if isinstance(self.pipeline, HybridPipeline):
                others = found[~followable]
                self.others = others[distinct(others, SAME)]
                self.other_misses = np.zeros(len(self.others), int)
                self.others_seen = np.zeros(len(self.others), bool)
            self.since_full, self.full_passes = 0, self.full_passes + 1
        else:
            people = self._carried(people)
            if len(self.others):
                people = Poses.concatenate([people, self._follow_others(image)])
        elapsed = 1000 * (time.perf_counter() - start)
        self.timing = {
            "network_ms": 1000 * network_s + extra["network_ms"],
            "decode_ms": elapsed - 1000 * network_s - extra["network_ms"],
        }
        return people

    def _look(
        self, image: np.ndarray, rois: np.ndarray, ids: np.ndarray
    ) -> tuple[Poses, np.ndarray]:
        """BlazePose's people in `rois` (with `ids`), and the ROIs of their landmarks."""
        landmarks, presence, _ = self.blazepose._landmarks(image, rois)
        people = self.blazepose.codec.poses(landmarks, presence)
        seen = Poses(people.keypoints, people.scores, people.layout, None, ids)
        return seen, rois_from_alignment(*(landmarks[:, i, :2] for i in ALIGNMENT_LANDMARKS))

    def _carry(self, found: Poses, seen: Poses, rois: np.ndarray, blend: float = 1.0) -> None:
        """Keep, for each person followed whom BlazePose saw as `seen` (their landmarks' ROIs
        `rois`) and the whole pipeline found (`found`, same ids), the offsets of the latter's
        keypoints from BlazePose's in ROI units, each at most FARTHEST long (farther is a
        disagreement, not BlazePose's bias), weighted `blend` against those kept before."""
        at = {int(i): row for row, i in enumerate(self.ids.tolist())}
        by_id = {int(i): person for person, i in enumerate(found.track_ids.tolist())}
        for person, track_id in enumerate(seen.track_ids.tolist()):
            if track_id not in by_id:
                continue
            theirs = found.keypoints[by_id[track_id]]
            ours = seen.keypoints[person]
            both = (theirs[:, 2] > 0) & (ours[:, 2] > 0)
            offsets = np.where(both[:, None], theirs[:, :2] - ours[:, :2], 0.0)
            row = at[track_id]
            offsets = to_roi(offsets, rois[person])
            norm = np.linalg.norm(offsets, axis=1, keepdims=True)
            offsets = offsets * np.minimum(1.0, FARTHEST / np.maximum(norm, 1e-9))
            self.offsets[row] = (1 - blend) * self.offsets[row] + blend * offsets

    def _carried(self, people: Poses) -> Poses:
        """The people followed (those of the first ROIs) with the offsets of the last full
        pass added to their keypoints found."""
        keypoints = people.keypoints.copy()
        for person in range(len(people)):
            found = keypoints[person, :, 2] > 0
            moved = from_roi(self.offsets[person], self.rois[person])
            keypoints[person, found, :2] += moved[found]
        return Poses(keypoints, people.scores, people.layout, None, people.track_ids)

    def _first_rois(self, image: np.ndarray, people: Poses) -> tuple[np.ndarray, np.ndarray]:
        """ROIs to follow new people in: of the ROI from their keypoints and the square about
        their keypoint box, the one where the landmark network is surer they are, turned into
        the ROI of the landmarks found there; and whether it is sure enough to follow them,
        and found that person there (not one beside or behind them, whose ROI it would
        become)."""
        if not len(people):
            return np.zeros((0, 4)), np.zeros(0, bool)
        tries = np.concatenate([keypoint_rois(people), box_rois(people.keypoint_boxes())])
        landmarks, presence, _ = self.blazepose._landmarks(image, tries)
        best = np.where(presence[: len(people)] >= presence[len(people) :], 0, len(people))
        best += np.arange(len(people))
        rois = rois_from_alignment(*(landmarks[best][:, i, :2] for i in ALIGNMENT_LANDMARKS))
        seen = self.blazepose.codec.poses(landmarks[best], presence[best]).keypoints
        same = np.diag(common_oks(seen, people.keypoints)) > AGREE
        return rois, (presence[best] >= self.blazepose.settings.presence) & same

    def _follow_others(self, image: np.ndarray) -> Poses:
        """The hybrid's people that BlazePose cannot follow, found again by its bottom-up
        model on a crop about each (their box grown by its longer side each way; the whole
        frame where the crops would cover more than half of it), at the scale it sees the whole
        frame at; those not found for `patience` frames are dropped (lost: a new full pass
        follows, unless they were never found again since the full pass that found them)."""
        bottom_up = self.pipeline.bottom_up
        height, width = image.shape[:2]
        scale = bottom_up.spec.input.height / height
        crops = []
        for x0, y0, x1, y1 in self.others.keypoint_boxes():
            grow = max(x1 - x0, y1 - y0, 32.0)
            left, top = np.maximum(np.floor(np.array([x0, y0]) - grow), 0).astype(int)
            right, bottom = np.minimum(np.ceil(np.array([x1, y1]) + grow), [width, height])
            crops.append((int(left), int(top), int(right), int(bottom)))
        if sum((x1 - x0) * (y1 - y0) for x0, y0, x1, y1 in crops) > width * height / 2:
            crops = [(0, 0, width, height)]  # one pass over the frame costs less
        found = []
        for left, top, right, bottom in crops:
            crop = np.ascontiguousarray(image[top:bottom, left:right])
            maps, base = bottom_up.maps(crop, max(round(scale * len(crop)), 16))
            people = bottom_up.codec.decode(maps).resized(1 / base).transform(1.0, (left, top))
            found.append(rescored(people.convert(COCO17)).convert(BLAZEPOSE33))
        found = Poses.concatenate(found)
        found = found[distinct(found, SAME)]  # one person seen on two crops
        similar = common_oks(found.keypoints, self.others.keypoints)
        pairs = greedy_pairs(similar, SAME)
        seen, ids = pairs >= 0, self.others.track_ids
        self.others.keypoints[seen] = found.keypoints[pairs[seen]]
        self.other_misses = np.where(seen, 0, self.other_misses + 1)
        self.others_seen |= seen
        keep = self.other_misses <= self.patience
        # one never found again (a full pass's spurious find) goes without a new full pass
        self.others_lost = bool((~keep & self.others_seen).any())
        self.others, self.other_misses = self.others[keep], self.other_misses[keep]
        self.others_seen = self.others_seen[keep]
        people = found[pairs[seen]]
        return Poses(people.keypoints, people.scores, people.layout, None, ids[seen])

    def _follow(self, image: np.ndarray) -> Poses:
        """The people followed, found again in their ROIs; their next ROIs set."""
        blazepose, settings = self.blazepose, self.blazepose.settings
        blazepose._network_s = 0.0
        if not len(self.rois):
            self.lost = False
            empty = Poses.empty(BLAZEPOSE33)
            return Poses(empty.keypoints, empty.scores, empty.layout, None, np.zeros(0, np.int64))
        landmarks, presence, masks = blazepose._landmarks(image, self.rois)
        seen = presence >= settings.presence
        people = blazepose.codec.poses(landmarks, presence)
        keep = np.flatnonzero(seen)
        oldest_first = Poses(people.keypoints[keep], -self.ids[keep], people.layout)
        keep = keep[_distinct_people(oldest_first, masks[keep], settings)]  # ROIs met: one
        self.rois[keep] = rois_from_alignment(
            *(landmarks[keep][:, i, :2] for i in ALIGNMENT_LANDMARKS)
        )
        self.misses[keep] = 0
        missed = np.flatnonzero(~seen)
        self.misses[missed] += 1
        retry = missed[self.misses[missed] <= self.patience]
        self.lost = len(retry) < len(missed)
        order = np.concatenate([keep, retry])
        people = Poses(people.keypoints, people.scores, people.layout, None, self.ids)[keep]
        self.rois, self.misses, self.ids = self.rois[order], self.misses[order], self.ids[order]
        self.offsets = self.offsets[order]
        return people  # found once, a person followed is kept at any score


def to_roi(offsets: np.ndarray, roi: np.ndarray) -> np.ndarray:
    """Offsets (K, 2) in image pixels as seen in `roi` (x, y, side, rotation): turned with it,
    in units of its side."""
    cos, sin = np.cos(roi[3]), np.sin(roi[3])
    return offsets @ np.array([[cos, -sin], [sin, cos]]) / roi[2]


def from_roi(offsets: np.ndarray, roi: np.ndarray) -> np.ndarray:
    """The inverse of `to_roi`."""
    cos, sin = np.cos(roi[3]), np.sin(roi[3])
    return offsets @ np.array([[cos, sin], [-sin, cos]]) * roi[2]


def keypoint_rois(people: Poses) -> np.ndarray:
    """ROIs of BlazePose-33 people from their keypoints, after mediapipe's alignment points:
    about the hips' midpoint, tilted along the line to the shoulders' midpoint, through the
    circle about the hips holding every keypoint found; a person without hips and shoulders
    gets the upright square about their keypoint box."""
    rois = box_rois(people.keypoint_boxes()) if len(people) else np.zeros((0, 4))
    use = (people.keypoints[:, list(HIPS + SHOULDERS), 2] > 0).all(axis=1)
    if use.any():
        rois[use] = hip_aligned_rois(people.keypoints[use], HIPS, SHOULDERS)
    return rois
