"""Identities across video frames. A person found twice in a frame (as alike as DUPLICATE to a
surer person of the frame: the estimator's duplicate) is dropped first. Each track remembers
its person's last keypoints and their velocity (pixels per frame, the mean motion of the
keypoints seen in both of its last two sightings); a frame's people, the surest first (so that
a weaker duplicate of a person does not take their id), each take the free track most alike to
them among those of the last `memory` frames, predicted to where they are now (constant
velocity), by OKS on the keypoints both have at the larger of the two people's scales (IoU of
keypoint boxes where they share fewer than three), tracks seen longer preferred by a little.
People that come with ids of the estimator's own (video mode follows people) keep the track
those ids had. The unmatched start new tracks, moving at first as the median track seen in the
frame does (the camera's motion, where it moves); ids are never reused, so a person missing for
longer than `memory` frames comes back under a new id."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from multipose.poses import Poses
from multipose.similarity import common_oks

SIGMA = 0.08  # one OKS sigma for every keypoint, whatever the layout
MIN_COMMON = 3  # fewer keypoints in common than this: boxes are compared instead
SETTLED, SENIORITY = 10, 0.1  # tracks seen in 10 frames lead newer ones by 0.1 of likeness
DUPLICATE = 0.5  # a person this alike to a surer one of the same frame is them found twice


@dataclass
class Track:
    """One identity: its last keypoints (K, 3), velocity (2,) in pixels per frame, frames
    since it was last seen, and the frames it was seen in (first, last, how many)."""

    keypoints: np.ndarray
    velocity: np.ndarray
    unseen: int
    first: int
    last: int
    frames: int = 1

    def predicted(self) -> np.ndarray:
        """Its keypoints moved on to the next frame at constant velocity."""
        keypoints = self.keypoints.copy()
        found = keypoints[:, 2] > 0
        keypoints[found, :2] += self.velocity * (self.unseen + 1)
        return keypoints


class Tracker:
    """Gives the people of successive frames `track_ids` (see the module docstring); people
    less alike than `min_similarity` to every track start new ones."""

    def __init__(self, min_similarity: float = 0.1, memory: int = 10) -> None:
        self.min_similarity, self.memory = min_similarity, memory
        self.live: dict[int, Track] = {}  # tracks seen in the last `memory` frames, by id
        self.ended: dict[int, Track] = {}
        self.frame = -1
        self.next_id = 0
        self.hinted: dict[int, int] = {}  # the estimator's ids (video mode's) -> track ids

    def update(self, poses: Poses) -> Poses:
        """The next frame's people, duplicates dropped, with `track_ids` set."""
        self.frame += 1
        poses = poses[distinct(poses)]
        ids = np.full(len(poses), -1, np.int64)
        track_ids = list(self.live)
        hints = poses.track_ids if poses.track_ids is not None else np.full(len(poses), -1)
        for person, hint in enumerate(hints.tolist()):  # the estimator's own ids, where known
            track_id = self.hinted.get(hint, -1)
            if hint >= 0 and track_id in self.live and track_id not in ids:
                ids[person] = track_id
                self._seen(self.live[track_id], poses.keypoints[person])
        similar = self.similarity(poses, track_ids)
        settled = np.array([min(self.live[t].frames, SETTLED) / SETTLED for t in track_ids])
        for person in np.argsort(-poses.scores, kind="stable"):  # surest people choose first
            if ids[person] >= 0:
                continue
            free = np.array([t not in ids for t in track_ids], bool)
            fits = free & (similar[person] >= self.min_similarity)
            if fits.any():
                choice = np.where(fits, similar[person] + SENIORITY * settled, -np.inf)
                track_id = track_ids[int(choice.argmax())]
                ids[person] = track_id
                self._seen(self.live[track_id], poses.keypoints[person])
        for track_id in track_ids:
            track = self.live[track_id]
            if track.last != self.frame:
                track.unseen += 1
                if track.unseen > self.memory:
                    self.ended[track_id] = self.live.pop(track_id)
        seen = [t.velocity for t in self.live.values() if t.last == self.frame and t.frames > 1]
        drift = np.median(seen, axis=0) if seen else np.zeros(2)
        for person in np.flatnonzero(ids < 0):
            ids[person] = self.next_id
            self.live[self.next_id] = Track(
                poses.keypoints[person].copy(), drift, 0, self.frame, self.frame
            )
            self.next_id += 1
        for hint, track_id in zip(hints.tolist(), ids.tolist(), strict=True):
            if hint >= 0:
                self.hinted[hint] = track_id
        return Poses(poses.keypoints, poses.scores, poses.layout, poses.boxes, ids)

    def similarity(self, poses: Poses, track_ids: list[int]) -> np.ndarray:
        """(people, tracks) likeness of each person to each track's prediction."""
        if not len(poses) or not track_ids:
            return np.zeros((len(poses), len(track_ids)))
        predicted = np.stack([self.live[t].predicted() for t in track_ids])
        return likeness(poses.keypoints, predicted)

    def _seen(self, track: Track, keypoints: np.ndarray) -> None:
        common = (keypoints[:, 2] > 0) & (track.keypoints[:, 2] > 0)
        if common.any():
            step = (keypoints[common, :2] - track.keypoints[common, :2]).mean(0)
            track.velocity = step / (track.unseen + 1)
        track.keypoints, track.unseen = keypoints.copy(), 0
        track.last, track.frames = self.frame, track.frames + 1

    def summary(self) -> list[dict]:
        """Each id so far with its first and last frame and the frames it was seen in."""
        tracks = {**self.ended, **self.live}
        return [
            {"id": i, "first": t.first, "last": t.last, "frames": t.frames}
            for i, t in sorted(tracks.items())
        ]


def likeness(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) OKS of people (N, K, 3) on their common keypoints, at the larger of
    the two keypoint boxes' scales (a partial find of a person is not judged at its own small
    scale)."""
    one_way = common_oks(a, b, SIGMA, MIN_COMMON)
    return np.maximum(one_way, common_oks(b, a, SIGMA, MIN_COMMON).T)


def distinct(poses: Poses, threshold: float = DUPLICATE) -> np.ndarray:
    """The indices, in order, of the people less alike than `threshold` to every surer one."""
    similar = likeness(poses.keypoints, poses.keypoints)
    kept: list[int] = []
    for person in np.argsort(-poses.scores, kind="stable").tolist():
        if not kept or similar[person, kept].max() < threshold:
            kept.append(person)
    return np.array(sorted(kept), np.int64)
