"""Video mode for the pipelines built on BlazePose (BlazePose itself and the hybrid): people are
followed from frame to frame as mediapipe's own video mode does. Each person found is looked
for in the next frame in the ROI of their own alignment landmarks (one landmark-network crop
per person); the whole pipeline (its detectors, and the hybrid's bottom-up pass) runs only
every `every` frames, and on the frame after someone was lost in view: its people replace
those followed that they match, and the new ones are followed from then on. Between full
passes, the keypoints of each person followed are moved by the offsets by which the last full
pass (for the hybrid, its fusion with the bottom-up keypoints) differed from BlazePose's own,
turned and scaled with the person's ROI (BlazePose's bias for that person; at each full pass,
the mean of the new offsets and the last). People the landmark network cannot follow (the
hybrid's small or lying people) or misses in their ROI are followed by optical flow
(`multipose.optical_flow`) from their last keypoints, each moved by the motion most of their
keypoints agree on, also through full passes that miss them; one it cannot follow for
`patience` frames is dropped (lost). Other pipelines have no video mode: they estimate each
frame as a photo."""

from __future__ import annotations

import time
from collections.abc import Sequence

import cv2
import numpy as np
import torch

from multipose.codecs.blazepose import rois_from_alignment
from multipose.optical_flow import follow_points, grey, in_frame
from multipose.pipelines.base import Pipeline, one_by_one
from multipose.pipelines.blazepose import ALIGNMENT_LANDMARKS, BlazePosePipeline, _distinct_people
from multipose.pipelines.blazepose_regions import box_rois, hip_aligned_rois
from multipose.pipelines.hybrid import HybridPipeline
from multipose.poses import Poses
from multipose.similarity import common_oks
from multipose.skeleton import BLAZEPOSE33
from multipose.tracking import distinct

SAME = 0.3  # a person of the whole pipeline this alike to one followed is that one
# A new person is followed by BlazePose only where its landmarks in their first ROI are this
# alike to them (else it may follow someone beside or behind them, or a poor guess that the full
# pass corrected): on the tuning clips (bench/results/video_tuning.md) video mode's AP summed over
# the six 1.45 without this check, 1.50 / 1.53 / 1.54 at 0.3 / 0.5 / 0.7, switches 12 / 15 / 9 / 17.
AGREE = 0.5
FARTHEST = 0.05  # offsets from BlazePose's keypoints carried over, at most (ROI sides)
MIN_FLOWN = 3  # keypoints the optical flow must follow to follow a person
# A person's motion (shift, turn, scale) is the one most of their keypoints' flows agree on
# within FIT_PX pixels; a keypoint's own flow is kept where it agrees with that motion within
# the share AGREE_SIZE of the diagonal of their keypoint box (at least FIT_PX).
FIT_PX, AGREE_SIZE = 2.0, 0.05
# A person BlazePose could not follow at a full pass is tried again at a later one only if they
# have grown by this factor since (else each full pass spent two crops on each in vain).
GROWN = 1.25
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
        self.ids = np.zeros(0, np.int64)  # the id each is followed under
        self.misses = np.zeros(0, int)  # frames each has been missed in a row
        self.motion = np.zeros((0, 2))  # pixels their ROI's centre moved on the last frame
        # what the last full pass made of each: its keypoints' offsets from BlazePose's
        # (people, 33, 2) in ROI units (turned with the ROI, per unit of its side)
        self.offsets = np.zeros((0, BLAZEPOSE33.num_keypoints, 2))
        self.next_id = 0
        self.others = _no_one()  # people the optical flow follows (BlazePose does not)
        self.other_misses = np.zeros(0, int)  # frames each has been missed in a row
        self.other_motion = np.zeros((0, 2))  # pixels per frame each moved when last followed
        self.others_lost = False
        self.grey = np.zeros((0, 0), np.uint8)  # the last frame, for the optical flow
        self.last = _no_one()  # the people given for the last frame
        self.since_full: int | None = None
        self.unfollowable: dict[int, float] = {}  # id: size when BlazePose could not follow
        self.full_passes = 0
        self.timing = {"network_ms": 0.0, "decode_ms": 0.0}

    def batch(
        self, images: Sequence[np.ndarray], image_ids: Sequence[int | None] | None = None
    ) -> list[Poses]:
        return one_by_one(self, images, image_ids)

    @torch.inference_mode()
    def __call__(self, image: np.ndarray, image_id: int | None = None) -> Poses:
        start, now = time.perf_counter(), grey(image)
        people, network_s = self._follow(image), self.blazepose._network_s
        flown = self._follow_others(self.grey, now) if len(self.others) else _no_one()
        full = self.since_full is None or self.since_full + 1 >= self.every
        full = full or self.others_lost
        self.others_lost = False
        self.since_full = None if self.since_full is None else self.since_full + 1
        extra = {"network_ms": 0.0, "decode_ms": 0.0}
        if full:
            found = self.pipeline(image, image_id)
            extra = dict(self.pipeline.timing)
            followed = Poses.concatenate([people, self.others])
            similar = common_oks(found.keypoints, followed.keypoints)
            ids = found_ids(similar, followed.track_ids, len(people), self.next_id)
            self.next_id += len(found)
            found = Poses(found.keypoints, found.scores, found.layout, found.boxes, ids)
            self._carry(found, people, self.rois[: len(people)], BLEND)
            unmatched = similar[:, : len(people)].max(axis=0, initial=0.0) <= SAME
            people = Poses.concatenate([found, people[unmatched]])
            followed_ids = set(self.ids.tolist())
            new = found[np.array([i not in followed_ids for i in ids], bool)]
            tried = self._worth_trying(new)
            rois, followable = np.zeros((len(new), 4)), np.zeros(len(new), bool)
            rois[tried], followable[tried] = self._first_rois(image, new[tried])
            failed = tried & ~followable
            sizes = _sizes(new[failed])
            self.unfollowable.update(zip(new.track_ids[failed].tolist(), sizes, strict=True))
            self.rois = np.concatenate([self.rois, rois[followable]])
            self.ids = np.concatenate([self.ids, new.track_ids[followable]])
            self.misses = np.concatenate([self.misses, np.zeros(followable.sum(), int)])
            self.motion = np.concatenate([self.motion, np.zeros((followable.sum(), 2))])
            self.offsets = np.concatenate(
                [self.offsets, np.zeros((followable.sum(), *self.offsets.shape[1:]))]
            )
            if followable.any():
                self._carry(new, *self._look(image, rois[followable], new.track_ids[followable]))
            others = new[~followable]
            self._leave_flow(ids)  # found again: followed afresh (those not found stay)
            self._to_flow(others[distinct(others, SAME)])
            self.since_full, self.full_passes = 0, self.full_passes + 1
        else:
            people = Poses.concatenate([self._carried(people), flown])
        self.grey, self.last = now, people
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

    def _worth_trying(self, people: Poses) -> np.ndarray:
        """Whether to try following each of `people` (with ids) by BlazePose: not if it could
        not at a full pass when they were more than 1 / GROWN as large as now."""
        before = [self.unfollowable.get(i, 0.0) for i in people.track_ids.tolist()]
        return _sizes(people) > GROWN * np.array(before).reshape(-1)

    def _to_flow(self, people: Poses, motion: np.ndarray | None = None) -> None:
        """Follow `people` (with ids; moving `motion` (N, 2) pixels a frame, if known) by the
        optical flow from now on."""
        motion = np.zeros((len(people), 2)) if motion is None else motion.reshape(-1, 2)
        self.others = Poses.concatenate([self.others, _unboxed(people)])
        self.other_misses = np.concatenate([self.other_misses, np.zeros(len(people), int)])
        self.other_motion = np.concatenate([self.other_motion, motion])

    def _follow_others(self, before: np.ndarray, now: np.ndarray) -> Poses:
        """The people BlazePose does not follow, moved by the optical flow from the last frame
        to this one (`before`, `now`: grey): each by the motion (shift, turn and scale) that
        their keypoints' flows agree on within FIT_PX, those that agree with it within
        AGREE_SIZE by their own flow (a limb moving on its own), the rest with it (points the
        flow lost, or that something crossing the person dragged away). One with fewer than
        MIN_FLOWN keypoints followed is missed (not given this frame, moved as they moved when
        last followed), and dropped after `patience` frames missed in a row (lost: a new full
        pass follows if they are still in view)."""
        keypoints, sizes = self.others.keypoints, _sizes(self.others)
        found = keypoints[..., 2] > 0
        moved, followed = follow_points(before, now, keypoints[..., :2][found])
        after = np.zeros(keypoints.shape[:2] + (2,), np.float32)
        flown = np.zeros_like(found)
        after[found], flown[found] = moved, followed
        seen = np.zeros(len(keypoints), bool)
        for person in np.flatnonzero(flown.sum(axis=1) >= MIN_FLOWN):
            points, flows = keypoints[person, :, :2], flown[person]
            motion, _ = cv2.estimateAffinePartial2D(
                points[flows], after[person, flows], None, cv2.RANSAC, FIT_PX
            )
            if motion is None:
                continue
            expected = points @ motion[:, :2].T + motion[:, 2]
            tolerance = max(FIT_PX, AGREE_SIZE * sizes[person])
            own = flows & (np.linalg.norm(after[person] - expected, axis=1) <= tolerance)
            keypoints[person, found[person], :2] = np.where(own[:, None], after[person], expected)[
                found[person]
            ]
            centre = points[found[person]].mean(axis=0)
            self.other_motion[person] = centre @ motion[:, :2].T + motion[:, 2] - centre
            seen[person] = True
        self.other_misses = np.where(seen, 0, self.other_misses + 1)
        keypoints[~seen, :, :2] += np.where(
            found[~seen, :, None], self.other_motion[~seen, None], 0
        )
        keep = self.other_misses <= self.patience
        inside = found[~keep] & in_frame(keypoints[~keep, :, :2], now.shape)
        self.others_lost = bool((inside.sum(axis=1) >= MIN_FLOWN).any())  # not gone from view
        people = _unboxed(self.others[seen])
        self.others, self.other_misses = self.others[keep], self.other_misses[keep]
        self.other_motion = self.other_motion[keep]
        return people

    def _follow(self, image: np.ndarray) -> Poses:
        """The people followed, found again in their ROIs; their next ROIs set. One the
        landmark network misses there is handed to the optical flow (`others`) as they were
        given for the last frame, and looked for again in their ROI, moved as it last moved,
        for `patience` frames (found again, they leave the flow)."""
        blazepose, settings = self.blazepose, self.blazepose.settings
        blazepose._network_s = 0.0
        if not len(self.rois):
            return _no_one()
        landmarks, presence, masks = blazepose._landmarks(image, self.rois)
        seen = presence >= settings.presence
        people = blazepose.codec.poses(landmarks, presence)
        keep = np.flatnonzero(seen)
        oldest_first = Poses(people.keypoints[keep], -self.ids[keep], people.layout)
        keep = keep[_distinct_people(oldest_first, masks[keep], settings)]  # ROIs met: one
        self._leave_flow(self.ids[keep])
        first_miss = self.last[np.isin(self.last.track_ids, self.ids[~seen & (self.misses == 0)])]
        motion = dict(zip(self.ids.tolist(), self.motion, strict=True))
        self._to_flow(first_miss, np.array([motion[i] for i in first_miss.track_ids.tolist()]))
        self.misses[keep] = 0
        self.misses[~seen] += 1
        retry = np.flatnonzero(~seen & (self.misses <= self.patience))
        rois = rois_from_alignment(*(landmarks[keep][:, i, :2] for i in ALIGNMENT_LANDMARKS))
        self.motion[keep] = rois[:, :2] - self.rois[keep, :2]
        self.rois[keep] = rois
        self.rois[retry, :2] += self.motion[retry]
        order = np.concatenate([keep, retry])
        people = Poses(people.keypoints, people.scores, people.layout, None, self.ids)[keep]
        self.rois, self.ids, self.misses = self.rois[order], self.ids[order], self.misses[order]
        self.motion, self.offsets = self.motion[order], self.offsets[order]
        return people  # found once, a person followed is kept at any score

    def _leave_flow(self, ids: np.ndarray) -> None:
        """Follow the people with `ids` by the optical flow no more."""
        stay = ~np.isin(self.others.track_ids, ids)
        self.others, self.other_misses = self.others[stay], self.other_misses[stay]
        self.other_motion = self.other_motion[stay]


def found_ids(
    similar: np.ndarray, followed_ids: np.ndarray, by_blazepose: int, first_new: int
) -> np.ndarray:
    """Ids for the people a full pass found: the id of the person followed most alike to each
    (`similar`: OKS, found x followed; the first `by_blazepose` followed by BlazePose, the rest
    by the flow), above SAME, BlazePose's first (one person followed twice: the full pass then
    updates the corrections of BlazePose's), each id taken once, the most alike first; new ids
    from `first_new` on for the rest."""
    rank = similar + (similar > SAME) * (np.arange(len(followed_ids)) < by_blazepose)
    ids = np.arange(first_new, first_new + len(similar))
    known = np.flatnonzero(similar.max(axis=1, initial=0.0) > SAME)
    for person in known[np.argsort(-rank[known].max(axis=1, initial=0.0), kind="stable")]:
        best = followed_ids[rank[person].argmax()]
        if best not in ids:
            ids[person] = best
    return ids


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


def _no_one() -> Poses:
    """No people, in the BlazePose-33 layout, with (no) ids."""
    empty = Poses.empty(BLAZEPOSE33)
    return Poses(empty.keypoints, empty.scores, empty.layout, None, np.zeros(0, np.int64))


def _sizes(people: Poses) -> np.ndarray:
    """The diagonal of each person's keypoint box, in pixels."""
    boxes = people.keypoint_boxes()
    return np.hypot(*(boxes[:, 2:] - boxes[:, :2]).T)


def _unboxed(people: Poses) -> Poses:
    """`people` without their boxes (those of the optical flow's people would go stale)."""
    return Poses(people.keypoints.copy(), people.scores, people.layout, None, people.track_ids)
