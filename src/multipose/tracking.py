"""Identities across video frames: each frame's people are matched greedily, best overlap first,
to the tracks seen in the last `memory` frames by the IoU of their keypoint boxes; the unmatched
start new tracks. Ids are never reused."""

from __future__ import annotations

import numpy as np

from multipose.poses import Poses
from multipose.similarity import iou


class Tracker:
    def __init__(self, min_iou: float = 0.3, memory: int = 5) -> None:
        self.min_iou, self.memory = min_iou, memory
        self.boxes = np.zeros((0, 4), np.float32)  # last box of each live track
        self.ids = np.zeros(0, np.int64)
        self.unseen = np.zeros(0, np.int64)  # frames since each track was last matched
        self.next_id = 0

    def update(self, poses: Poses) -> Poses:
        """The frame's people with `track_ids` set."""
        boxes = poses.keypoint_boxes()
        ids = np.full(len(poses), -1, np.int64)
        overlap = iou(boxes, self.boxes) if len(boxes) and len(self.boxes) else np.zeros((0, 0))
        matched_tracks = set()
        for flat in np.argsort(-overlap, axis=None, kind="stable"):
            person, track = np.unravel_index(flat, overlap.shape)
            if overlap[person, track] < self.min_iou:
                break
            if ids[person] < 0 and track not in matched_tracks:
                ids[person] = self.ids[track]
                matched_tracks.add(track)
                self.boxes[track] = boxes[person]
                self.unseen[track] = 0
        keep = np.array([t in matched_tracks for t in range(len(self.ids))], bool)
        self.unseen[~keep] += 1
        alive = self.unseen <= self.memory
        self.boxes, self.ids, self.unseen = self.boxes[alive], self.ids[alive], self.unseen[alive]
        new = np.flatnonzero(ids < 0)
        ids[new] = self.next_id + np.arange(len(new))
        self.next_id += len(new)
        self.boxes = np.concatenate([self.boxes, boxes[new]])
        self.ids = np.concatenate([self.ids, ids[new]])
        self.unseen = np.concatenate([self.unseen, np.zeros(len(new), np.int64)])
        return Poses(poses.keypoints, poses.scores, poses.layout, poses.boxes, ids)
