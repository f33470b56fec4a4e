"""`Poses`: the people found in one image, as arrays, and its conversions to the usual formats."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from multipose.errors import MultiposeError
from multipose.similarity import keypoint_boxes
from multipose.skeleton import COCO17, Layout, convert_keypoints, get_layout, layout_for_count
from multipose.values import integer_problem, number_problem, numbers_problem, shown

OPENPOSE_JSON_VERSION = 1.3


@dataclass
class Poses:
    """People in one image.

    keypoints: float32 (N, K, 3) of x, y, score in image pixels; score 0 means not found and
        x = y = 0 there.
    scores: float32 (N,) person scores; by default the mean score of the found keypoints.
    layout: the keypoint layout (a `Layout` or its name).
    boxes: optional float32 (N, 4) person boxes as x0, y0, x1, y1.
    track_ids: optional int64 (N,) identities across video frames, -1 where unknown.
    """

    keypoints: np.ndarray
    scores: np.ndarray | None = None
    layout: Layout | str = COCO17
    boxes: np.ndarray | None = None
    track_ids: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.layout = get_layout(self.layout)
        k = self.layout.num_keypoints
        kp = np.array(self.keypoints, dtype=np.float32)
        if kp.size == 0:
            kp = kp.reshape(0, k, 3)
        if kp.ndim != 3 or kp.shape[1:] != (k, 3):
            raise MultiposeError(
                f"keypoints of shape {kp.shape} do not fit layout {self.layout.name} "
                f"(expected (N, {k}, 3))"
            )
        kp[kp[..., 2] <= 0] = 0
        self.keypoints = kp
        n = len(kp)
        if self.scores is None:
            self.scores = _mean_found_score(kp)
        self.scores = _per_person(self.scores, n, np.float32, "scores")
        if self.boxes is not None:
            self.boxes = np.array(self.boxes, dtype=np.float32).reshape(-1, 4)
            if len(self.boxes) != n:
                raise MultiposeError(f"{len(self.boxes)} boxes given for {n} people")
        if self.track_ids is not None:
            self.track_ids = _per_person(self.track_ids, n, np.int64, "track_ids")

    # -- construction and selection -------------------------------------------------------

    @classmethod
    def empty(cls, layout: Layout | str = COCO17) -> Poses:
        layout = get_layout(layout)
        return cls(np.zeros((0, layout.num_keypoints, 3), np.float32), layout=layout)

    @classmethod
    def concatenate(cls, parts: Sequence[Poses]) -> Poses:
        """One `Poses` holding the people of all `parts` (which share a layout)."""
        if not parts:
            raise MultiposeError("nothing to concatenate")
        layout = parts[0].layout
        if any(p.layout is not layout for p in parts):
            raise MultiposeError("cannot concatenate poses of different layouts")

        def joined(name: str) -> np.ndarray | None:
            if all(getattr(p, name) is None for p in parts):
                return None
            fill = {"boxes": lambda p: p.keypoint_boxes(), "track_ids": lambda p: -np.ones(len(p))}
            return np.concatenate(
                [getattr(p, name) if getattr(p, name) is not None else fill[name](p) for p in parts]
            )

        return cls(
            np.concatenate([p.keypoints for p in parts]),
            np.concatenate([p.scores for p in parts]),
            layout,
            joined("boxes"),
            joined("track_ids"),
        )

    def __len__(self) -> int:
        return len(self.keypoints)

    def __getitem__(self, index: Any) -> Poses:
        """The people selected by an index, slice, index array or boolean mask."""
        if isinstance(index, (int, np.integer)):
            index = [index]
        return Poses(
            self.keypoints[index],
            self.scores[index],
            self.layout,
            None if self.boxes is None else self.boxes[index],
            None if self.track_ids is None else self.track_ids[index],
        )

    def visible_counts(self, threshold: float = 0.0) -> np.ndarray:
        """Number of keypoints per person whose score is above `threshold`."""
        return (self.keypoints[..., 2] > threshold).sum(axis=1)

    def filter(
        self, min_score: float = 0.0, min_keypoints: int = 0, keypoint_threshold: float = 0.0
    ) -> Poses:
        """People scoring at least `min_score` with at least `min_keypoints` keypoints whose
        score is above `keypoint_threshold`."""
        keep = (self.scores >= min_score) & (
            self.visible_counts(keypoint_threshold) >= min_keypoints
        )
        return self[keep]

    # -- geometry ---------------------------------------------------------------------------

    def transform(
        self, scale: float | tuple[float, float] = 1.0, offset: tuple[float, float] = (0.0, 0.0)
    ) -> Poses:
        """Poses with every found point mapped to `point * scale + offset` (e.g. from a resized,
        padded network input back to the original image)."""
        sx, sy = (scale, scale) if np.isscalar(scale) else scale
        m = np.array([[sx, 0, offset[0]], [0, sy, offset[1]]], dtype=np.float64)
        return self.affine(m)

    def resized(self, factor: float) -> Poses:
        """Poses of the same image resized by `factor` (pixel centres stay pixel centres:
        x -> (x + 0.5) factor - 0.5)."""
        return self.transform(factor, (0.5 * factor - 0.5, 0.5 * factor - 0.5))

    def affine(self, matrix: np.ndarray) -> Poses:
        """Poses with every found point mapped by a 2x3 affine matrix (boxes by their corners)."""
        m = np.asarray(matrix, dtype=np.float64)
        kp = self.keypoints.copy()
        kp[..., :2] = kp[..., :2] @ m[:, :2].T + m[:, 2]
        boxes = None
        if self.boxes is not None:
            x0, y0, x1, y1 = self.boxes.T
            corners = np.stack([[x0, y0], [x1, y0], [x0, y1], [x1, y1]], axis=0)  # 4, 2, N
            corners = np.einsum("ij,cjn->cin", m[:, :2], corners) + m[:, 2, None]
            boxes = np.concatenate([corners.min(axis=0), corners.max(axis=0)]).T
        return Poses(kp, self.scores, self.layout, boxes, self.track_ids)

    def keypoint_boxes(self) -> np.ndarray:
        """(N, 4) x0, y0, x1, y1 boxes around each person's found keypoints (zeros if none)."""
        return keypoint_boxes(self.keypoints).astype(np.float32)

    def convert(self, layout: Layout | str) -> Poses:
        """The same people in another keypoint layout (see `skeleton.convert_keypoints`)."""
        layout = get_layout(layout)
        kp = convert_keypoints(self.keypoints, self.layout, layout)
        return Poses(kp, self.scores, layout, self.boxes, self.track_ids)

    # -- COCO results -----------------------------------------------------------------------

    def to_coco(self, image_id: int, category_id: int = 1) -> list[dict]:
        """COCO results entries (`image_id`, `category_id`, 51 `keypoints`, `score`).

        Layouts without OKS sigmas (COCO-18, BODY_25) are written in COCO-17."""
        poses = self if self.layout.sigmas else self.convert(COCO17)
        return [
            {
                "image_id": image_id,
                "category_id": category_id,
                "keypoints": [round(float(v), 3) for v in kp.ravel()],
                "score": float(score),
            }
            for kp, score in zip(poses.keypoints, poses.scores, strict=True)
        ]

    @classmethod
    def from_coco(cls, entries: Iterable[dict], layout: Layout | str | None = None) -> Poses:
        """Poses from COCO entries (results or ground-truth annotations) of one image.

        Ground truth (no `score`) gets keypoint score 1 where labelled (v > 0) and person
        score 1; the layout is taken from the keypoint count unless given."""
        entries = list(entries)
        if not entries:
            return cls.empty(COCO17 if layout is None else layout)
        counts = {len(e["keypoints"]) for e in entries}
        if len(counts) != 1 or next(iter(counts)) % 3:
            raise MultiposeError(
                f"keypoint lists of lengths {sorted(counts)} are not x, y, v triples"
            )
        k = counts.pop() // 3
        layout = layout_for_count(k) if layout is None else get_layout(layout)
        kp = np.array([e["keypoints"] for e in entries], dtype=np.float32).reshape(-1, k, 3)
        is_gt = "score" not in entries[0]
        if is_gt:
            kp[..., 2] = (kp[..., 2] > 0).astype(np.float32)
        scores = np.array([e.get("score", 1.0) for e in entries], dtype=np.float32)
        boxes = None
        if all("bbox" in e for e in entries):
            xywh = np.array([e["bbox"] for e in entries], dtype=np.float32).reshape(-1, 4)
            boxes = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
        return cls(kp, scores, layout, boxes)

    # -- OpenPose JSON ----------------------------------------------------------------------

    def to_openpose(self, layout: Layout | str = "coco18") -> dict:
        """An OpenPose JSON document (version 1.3) with the people in `layout` order
        (`coco18` or `body25`). Each person also carries its score as `score`."""
        poses = self.convert(layout)
        ids = poses.track_ids if poses.track_ids is not None else -np.ones(len(poses), np.int64)
        people = [
            {
                "person_id": [int(pid)],
                "pose_keypoints_2d": [float(v) for v in kp.ravel()],
                "face_keypoints_2d": [],
                "hand_left_keypoints_2d": [],
                "hand_right_keypoints_2d": [],
                "pose_keypoints_3d": [],
                "face_keypoints_3d": [],
                "hand_left_keypoints_3d": [],
                "hand_right_keypoints_3d": [],
                "score": float(score),
            }
            for kp, score, pid in zip(poses.keypoints, poses.scores, ids, strict=True)
        ]
        return {"version": OPENPOSE_JSON_VERSION, "people": people}

    @classmethod
    def from_openpose(cls, document: dict) -> Poses:
        """Poses from an OpenPose JSON document; the layout (COCO-18, BODY_25, ...) is taken
        from the keypoint count. Person ids other than -1 become track ids."""
        people = document.get("people")
        if not isinstance(people, list):
            raise MultiposeError("not an OpenPose JSON document: no 'people' list")
        if not people:
            return cls.empty("coco18")
        for i, person in enumerate(people):
            problem = _openpose_person_problem(person)
            if problem:
                raise MultiposeError(f"person {i}: {problem}")
        lengths = {len(p.get("pose_keypoints_2d", [])) for p in people}
        if len(lengths) != 1 or next(iter(lengths)) % 3 or next(iter(lengths)) == 0:
            raise MultiposeError(f"pose_keypoints_2d lists of lengths {sorted(lengths)}")
        layout = layout_for_count(lengths.pop() // 3)
        kp = np.array([p["pose_keypoints_2d"] for p in people], dtype=np.float32)
        kp = kp.reshape(len(people), layout.num_keypoints, 3)
        scores = None
        if all("score" in p for p in people):
            scores = np.array([p["score"] for p in people], dtype=np.float32)
        ids = np.array([_person_id(p.get("person_id", -1)) for p in people], dtype=np.int64)
        return cls(kp, scores, layout, track_ids=ids if (ids >= 0).any() else None)


def _openpose_person_problem(person: Any) -> str | None:
    """What is wrong with a person of an OpenPose JSON document, in words, or None."""
    if not isinstance(person, dict):
        return f"is {shown(person)}, not an object"
    problem = numbers_problem(person.get("pose_keypoints_2d", []))
    if problem:
        return f"'pose_keypoints_2d' {problem}"
    if "score" in person and (problem := number_problem(person["score"])):
        return f"'score' {problem}"
    pid = person.get("person_id", -1)
    if isinstance(pid, list):  # OpenPose's [-1]
        pid = pid[0] if pid else -1
    if problem := integer_problem(pid):
        return f"'person_id' {problem}"
    return None


def _mean_found_score(keypoints: np.ndarray) -> np.ndarray:
    s = keypoints[..., 2]
    found = (s > 0).sum(axis=1)
    return (s.sum(axis=1) / np.maximum(found, 1)).astype(np.float32)


def _per_person(values: Any, n: int, dtype: type, name: str) -> np.ndarray:
    arr = np.array(values, dtype=dtype).reshape(-1)
    if len(arr) != n:
        raise MultiposeError(f"{len(arr)} {name} given for {n} people")
    return arr


def _person_id(value: Any) -> int:
    """OpenPose writes `person_id` as [-1] (or a bare number in older versions)."""
    if isinstance(value, list):
        return int(value[0]) if value else -1
    return int(value)
