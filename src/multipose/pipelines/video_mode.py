"""Video mode for the pipelines built on BlazePose (BlazePose itself and the hybrid): people are
followed from frame to frame as mediapipe's own video mode does. Each person found is looked
for in the next frame in the ROI of their own alignment landmarks (one landmark-network crop
per person); the whole pipeline (its detectors, and the hybrid's bottom-up pass) runs only
every `every` frames, and on the frame after someone was lost in view: its people replace
those followed that they match, and the new ones are followed from then on. A full pass's
own BlazePose landmarks serve the follow step: those followed that it found again are not
looked for in their ROI on that frame, and new people are followed by BlazePose only where
it found them, with no crop of their own. Between full passes, the keypoints of each person
followed are moved by the offsets by which the last full pass (for the hybrid, its fusion
with the bottom-up keypoints) differed from BlazePose's own, turned and scaled with the
person's ROI (BlazePose's bias for that person; at each full pass, the mean of the new
offsets and the last). People BlazePose did not find (the hybrid's small or lying people) or
misses in their ROI are followed by optical flow (`multipose.optical_flow`) from their last
keypoints, each moved by the motion most of their keypoints agree on, also through full
passes that miss them; one it cannot follow for `patience` frames is dropped (lost). Other
pipelines have no video mode: they estimate each frame as a photo."""

from __future__ import annotations

import time
from collections.abc import Sequence

import cv2
import numpy as np
import torch

from multipose.optical_flow import follow_points, grey, in_frame
from multipose.pipelines.base import Pipeline, one_by_one
from multipose.pipelines.blazepose import (
    BlazePosePipeline,
    Landmarks,
    _distinct_people,
)
from multipose.pipelines.hybrid import HybridPipeline
from multipose.poses import Poses
from multipose.similarity import common_oks, greedy_pairs
from multipose.skeleton import BLAZEPOSE33
from multipose.tracking import distinct, likeness

SAME = 0.3  # a person of the whole pipeline this alike to one followed is that one
# A person followed is the one the full pass's BlazePose found where they are this alike
# (how they were given on the last frame, moved on), and a new person is followed by BlazePose
# only where it found them this alike (else it may follow someone beside or behind them, or a
# poor guess that the full pass corrected). On the tuning clips (bench/results/
# video_tuning.md) with a crop of their own for each new person: video mode's AP summed 1.45
# without the check, 1.50 / 1.53 / 1.54 at 0.3 / 0.5 / 0.7. Given no crop of their own, a
# stricter 0.8 for those followed cost AP (crowd clip 0.225 -> 0.172).
AGREE = 0.5
# A new person of a full pass this alike (`likeness`) to another it found, one followed or a
# surer new one, is that person found twice, and not followed apart: against none, tuning clips
# AP 1.571 -> 1.569, switches 6 -> 5; val clips 1.937 -> 2.070, 3 -> 2 (pair: 0.478 -> 0.586).
# Between full passes, one BlazePose follows and one the flow follows this alike are one person
# followed twice (BlazePose's ROI drifted onto the flow's person), followed on by the flow:
# tuning 1.569 -> 1.593, switches 5 -> 4; val 2.070 -> 2.084, 2 -> 0 (street: a ROI drifted onto
# a neighbour as its person left the view). Keeping the older id's follower instead scored as
# much (1.594 / 4, 2.085 / 0) but on a ski clip with a bar gave a drifted ROI the id of the
# person it landed on; BlazePose following on under the flow's id: 1.569 / 6, 2.015 / 1.
TWICE = 0.8
FARTHEST = 0.05  # offsets from BlazePose's keypoints carried over, at most (ROI sides)
MIN_FLOWN = 3  # keypoints the optical flow must follow to follow a person
# A person's motion (shift, turn, scale) is the one most of their keypoints' flows agree on
# within FIT_PX pixels; a keypoint's own flow is kept where it agrees with that motion within
# the share AGREE_SIZE of the diagonal of their keypoint box (at least FIT_PX).
FIT_PX, AGREE_SIZE = 2.0, 0.05
# BlazePose's find in the ROI of a person seen on the last frame is them only this alike to how
# they were given then, moved as their ROI moved (else the ROI drifted onto someone else, as a
# bar covered them: a miss). Tuning clips, against none: AP summed 1.594 -> 1.584, switches 4 ->
# 1 (crowd 3 -> 1), recall 2.784 -> 2.788 (0.5: 1.583 / 1; checking retried ROIs too cost the
# two + bar clip 0.598 -> 0.554); val 2.085 -> 2.091, 0 switches.
KEPT = 0.3
BLEND = 0.5  # a full pass's offsets for someone followed already: their mean with the last


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
        self.full_passes = 0
        self.timing = {"network_ms": 0.0, "decode_ms": 0.0}

    def batch(
        self, images: Sequence[np.ndarray], image_ids: Sequence[int | None] | None = None
    ) -> list[Poses]:
        return one_by_one(self, images, image_ids)

    @torch.inference_mode()
    def __call__(self, image: np.ndarray, image_id: int | None = None) -> Poses:
        start, now = time.perf_counter(), grey(image)
        due = self.since_full is None or self.since_full + 1 >= self.every
        self.since_full = None if self.since_full is None else self.since_full + 1
        found = self.pipeline(image, image_id) if due else None
        extra = dict(self.pipeline.timing) if due else {"network_ms": 0.0, "decode_ms": 0.0}
        rows, used = self._found_again() if due else (np.zeros(0, int), np.zeros(0, int))
        people = self._follow(image, rows, self.blazepose.found.select(used))
        network_s = self.blazepose._network_s
        flown = self._follow_others(self.grey, now) if len(self.others) else _no_one()
        if found is None and self.others_lost:
            found, extra = self.pipeline(image, image_id), dict(self.pipeline.timing)
        self.others_lost = False
        if found is None:
            people, flown = self._once_each(people, flown)
            people = Poses.concatenate([self._carried(people), flown])
        else:
            people = self._take(found, people, used)
        self.grey, self.last = now, people
        elapsed = 1000 * (time.perf_counter() - start)
        self.timing = {
            "network_ms": 1000 * network_s + extra["network_ms"],
            "decode_ms": elapsed - 1000 * network_s - extra["network_ms"],
        }
        return people

    def _take(self, found: Poses, people: Poses, used: np.ndarray) -> Poses:
        """The people a full pass `found`, with the ids of those followed (`people`, whom
        BlazePose followed on this frame, and the flow's) that they are, and beside them the
        people followed that it did not find. BlazePose's corrections for those it found are
        updated; the new ones are followed by BlazePose where the full pass's BlazePose found
        them (`used`: its people given to the follow step already), else by the flow."""
        followed = Poses.concatenate([people, self.others])
        similar = common_oks(found.keypoints, followed.keypoints)
        ids = found_ids(similar, followed.track_ids, len(people), self.next_id)
        self.next_id += len(found)
        found = Poses(found.keypoints, found.scores, found.layout, found.boxes, ids)
        self._carry(found, people, self.rois[: len(people)], BLEND)
        unmatched = similar[:, : len(people)].max(axis=0, initial=0.0) <= SAME
        new = _once(found[~np.isin(ids, self.ids)], found[np.isin(ids, self.ids)], self.others)
        seen, rois = self._seen_by_blazepose(new, used)
        self.rois = np.concatenate([self.rois, rois])
        self.ids = np.concatenate([self.ids, seen.track_ids])
        self.misses = np.concatenate([self.misses, np.zeros(len(seen), int)])
        self.motion = np.concatenate([self.motion, np.zeros((len(seen), 2))])
        self.offsets = np.concatenate(
            [self.offsets, np.zeros((len(seen), *self.offsets.shape[1:]))]
        )
        self._carry(new, seen, rois)
        others = new[~np.isin(new.track_ids, seen.track_ids)]
        self._leave_flow(ids)  # found again: followed afresh (those not found stay)
        self._to_flow(others[distinct(others, SAME)])
        self.since_full, self.full_passes = 0, self.full_passes + 1
        return Poses.concatenate([found, people[unmatched]])

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

    def _found_again(self) -> tuple[np.ndarray, np.ndarray]:
        """The rows of the people followed whom the full pass's BlazePose found again (alike
        above AGREE to how they were given on the last frame, moved as their ROI last moved;
        one each), and which of its people each is."""
        rows = np.flatnonzero(np.isin(self.ids, self.last.track_ids))
        found = self.blazepose.found
        seen = self.blazepose.codec.poses(found.points, found.presence)
        pairs = greedy_pairs(common_oks(seen.keypoints, self._expected(rows)), AGREE)
        return rows[pairs >= 0], pairs[pairs >= 0]

    def _expected(self, rows: np.ndarray) -> np.ndarray:
        """The keypoints (N, 33, 3) of the people followed in `rows` (all given on the last
        frame) as they were given then, moved as their ROI last moved."""
        row_of = {int(i): row for row, i in enumerate(self.last.track_ids.tolist())}
        expected = self.last.keypoints[[row_of[int(i)] for i in self.ids[rows]]].copy()
        expected[..., :2] += self.motion[rows, None]
        return expected

    def _seen_by_blazepose(self, people: Poses, used: np.ndarray) -> tuple[Poses, np.ndarray]:
        """Of new `people` (with ids), those whom the full pass's BlazePose found (alike above
        AGREE, one each, none of its people `used` already: else BlazePose would follow
        someone beside or behind them, or a poor guess that the full pass corrected), as it
        found them, and the ROIs of their landmarks to follow them in."""
        found = self.blazepose.found
        free = np.flatnonzero(~np.isin(np.arange(len(found.presence)), used))
        seen = self.blazepose.codec.poses(found.points[free], found.presence[free])
        pairs = greedy_pairs(common_oks(seen.keypoints, people.keypoints), AGREE)
        chosen = pairs >= 0
        rois = found.select(free[pairs[chosen]]).rois()
        seen = seen[pairs[chosen]]
        return Poses(seen.keypoints, seen.scores, seen.layout, None, people.track_ids[chosen]), rois

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
        self._keep_others(keep)
        return people

    def _follow(
        self, image: np.ndarray, rows: Sequence[int] = (), given: Landmarks | None = None
    ) -> Poses:
        """The people followed, found again in their ROIs (those of `rows` as `given`: the
        full pass's BlazePose found them); their next ROIs set. One the landmark network
        misses there is handed to the optical flow (`others`) as they were given for the last
        frame, and looked for again in their ROI, moved as it last moved, for `patience`
        frames (found again, they leave the flow)."""
        blazepose, settings = self.blazepose, self.blazepose.settings
        blazepose._network_s = 0.0
        if not len(self.rois):
            return _no_one()
        todo = np.flatnonzero(~np.isin(np.arange(len(self.rois)), rows))
        looked = blazepose._landmarks(image, self.rois[todo]) if len(todo) else given
        if len(todo) and len(rows):
            looked = looked.joined(given).select(np.argsort(np.concatenate([todo, rows])))
        landmarks, presence, masks = looked
        people = blazepose.codec.poses(landmarks, presence)
        seen = (presence >= settings.presence) & self._where_expected(people)
        keep = np.flatnonzero(seen)
        # ROIs met on one person: the one seen on the last frame kept (not a retried ROI
        # that drifted onto them), else the oldest
        rank = -(self.misses[keep] * max(self.next_id, 1) + self.ids[keep]).astype(float)
        ranked = Poses(people.keypoints[keep], rank, people.layout)
        keep = keep[_distinct_people(ranked, masks[keep], settings)]
        self._leave_flow(self.ids[keep])
        first_miss = self.last[np.isin(self.last.track_ids, self.ids[~seen & (self.misses == 0)])]
        motion = dict(zip(self.ids.tolist(), self.motion, strict=True))
        self._to_flow(first_miss, np.array([motion[i] for i in first_miss.track_ids.tolist()]))
        self.misses[keep] = 0
        self.misses[~seen] += 1
        retry = np.flatnonzero(~seen & (self.misses <= self.patience))
        rois = looked.select(keep).rois()
        self.motion[keep] = rois[:, :2] - self.rois[keep, :2]
        self.rois[keep] = rois
        self.rois[retry, :2] += self.motion[retry]
        people = Poses(people.keypoints, people.scores, people.layout, None, self.ids)[keep]
        self._keep_rows(np.concatenate([keep, retry]))
        return people  # found once, a person followed is kept at any score

    def _where_expected(self, people: Poses) -> np.ndarray:
        """Whether BlazePose found each person followed (`people`, one per row) where they
        were expected: alike above KEPT to how they were given on the last frame, moved as
        their ROI last moved (else its ROI drifted onto someone else: a miss). True for the
        rest (not given on the last frame, or looked for again after a miss)."""
        rows = np.flatnonzero(np.isin(self.ids, self.last.track_ids) & (self.misses == 0))
        similar = common_oks(people.keypoints[rows], self._expected(rows))
        alike = np.ones(len(self.ids), bool)
        alike[rows] = np.diag(similar) > KEPT
        return alike

    def _once_each(self, people: Poses, flown: Poses) -> tuple[Poses, Poses]:
        """The people BlazePose follows (`people`) and those the flow follows (`flown`), each
        person once: where one of each are alike above TWICE, BlazePose's ROI drifted onto the
        flow's person (the flow does not jump to a neighbour): the flow follows that person
        on, and BlazePose's own person, as given on the last frame, goes to the flow."""
        pairs = greedy_pairs(likeness(people.keypoints, flown.keypoints), TWICE)
        rows = pairs[pairs >= 0]
        self._to_flow(self.last[np.isin(self.last.track_ids, people.track_ids[rows])])
        keep = np.ones(len(self.ids), bool)
        keep[rows] = False  # people's rows come first
        self._keep_rows(keep)
        return people[keep[: len(people)]], flown

    def _keep_rows(self, index: np.ndarray) -> None:
        """Follow by BlazePose only the people of the rows `index` picks (a mask or rows, in
        their new order)."""
        self.rois, self.ids, self.misses = self.rois[index], self.ids[index], self.misses[index]
        self.motion, self.offsets = self.motion[index], self.offsets[index]

    def _leave_flow(self, ids: np.ndarray) -> None:
        """Follow the people with `ids` by the optical flow no more."""
        self._keep_others(~np.isin(self.others.track_ids, ids))

    def _keep_others(self, keep: np.ndarray) -> None:
        """Follow by the optical flow only the people `keep` marks."""
        self.others, self.other_misses = self.others[keep], self.other_misses[keep]
        self.other_motion = self.other_motion[keep]


def found_ids(
    similar: np.ndarray, followed_ids: np.ndarray, by_blazepose: int, first_new: int
) -> np.ndarray:
    """Ids for the people a full pass found: that of a person followed alike to each above
    SAME (`similar`: OKS, found x followed; the first `by_blazepose` followed by BlazePose, the
    rest by the flow), each taken once, BlazePose's before the flow's (one person followed
    twice: the full pass then updates the corrections of BlazePose's), the most alike first;
    new ids from `first_new` on for the rest."""
    ranks = similar + (np.arange(len(followed_ids)) < by_blazepose)
    pairs = greedy_pairs(np.where(similar > SAME, ranks, -1.0).T, 0.0)
    ids = np.arange(first_new, first_new + len(similar))
    ids[pairs >= 0] = followed_ids[pairs[pairs >= 0]]
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


def _no_one() -> Poses:
    """No people, in the BlazePose-33 layout, with (no) ids."""
    empty = Poses.empty(BLAZEPOSE33)
    return Poses(empty.keypoints, empty.scores, empty.layout, None, np.zeros(0, np.int64))


def _once(new: Poses, known: Poses, flown: Poses) -> Poses:
    """Of the `new` people of a full pass, those it did not find twice: none alike above
    TWICE to one of the `known` (those BlazePose follows) or to a surer new one, those
    the flow follows (`flown`, by id) surer than the rest."""
    twice = likeness(new.keypoints, known.keypoints).max(axis=1, initial=0.0) > TWICE
    new = new[~twice]
    ranked = new.scores + np.isin(new.track_ids, flown.track_ids)
    return new[distinct(Poses(new.keypoints, ranked, new.layout), TWICE)]


def _sizes(people: Poses) -> np.ndarray:
    """The diagonal of each person's keypoint box, in pixels."""
    boxes = people.keypoint_boxes()
    return np.hypot(*(boxes[:, 2:] - boxes[:, :2]).T)


def _unboxed(people: Poses) -> Poses:
    """`people` without their boxes (those of the optical flow's people would go stale)."""
    return Poses(people.keypoints.copy(), people.scores, people.layout, None, people.track_ids)
