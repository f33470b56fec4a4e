"""How well a video's people were found and followed, against per-frame truth with identities:
recall, identity switches, fragmented tracks and keypoint jitter. In each frame the people
found are matched to the true ones by OKS (COCO-17) of at least `min_oks`: a true person keeps
the id they were last matched to while it still matches (as in the CLEAR MOT metrics), the
others are matched greedily, most alike first."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from multipose.poses import Poses
from multipose.similarity import greedy_pairs, oks
from multipose.skeleton import COCO17


@dataclass(frozen=True)
class Frame:
    """One frame's true people (COCO-17, `track_ids` their identities) with their areas, and
    the people found there (any layout, `track_ids` set)."""

    truth: Poses
    areas: np.ndarray
    found: Poses


@dataclass
class VideoScores:
    """recall: share of the true people (with at least one labelled keypoint) matched;
    complete_frames: share of frames where all of them were; id_switches: times a true person
    was matched to another id than at their last match; fragments: ids beyond the first per
    true person; jitter: mean |acceleration found - true acceleration| (pixels per frame^2) of
    the keypoints labelled and found in three frames in a row."""

    recall: float
    complete_frames: float
    id_switches: int
    fragments: int
    jitter: float


def coco_oks(found: np.ndarray, truth: np.ndarray, areas: np.ndarray) -> np.ndarray:
    """(found, truth) COCO OKS of COCO-17 keypoints (N, 17, 3) over each true person's
    labelled keypoints (score > 0), scaled by their `areas`."""
    return oks(
        found[..., :2], truth[..., :2], np.maximum(areas, 1.0), COCO17.sigmas, truth[..., 2] > 0
    )


def match(
    truth: Poses,
    areas: np.ndarray,
    found: Poses,
    min_oks: float = 0.5,
    last: dict[int, int] | None = None,
) -> np.ndarray:
    """For each true person, the index of the person found matched to them, or -1. As in the
    CLEAR MOT metrics, a true person keeps the id they were last matched to (`last`: true id
    -> found id) while it is still found at `min_oks`; the others are matched greedily."""
    pairs = np.full(len(truth), -1)
    if not len(truth) or not len(found):
        return pairs
    found = found.convert(COCO17)
    similar = coco_oks(found.keypoints, truth.keypoints, areas)
    for true, true_id in enumerate(truth.track_ids if last else ()):
        at = np.flatnonzero(found.track_ids == last.get(int(true_id), -2))
        if len(at) and similar[at[0], true] >= min_oks:
            pairs[true] = at[0]
            similar[at[0]] = -1.0
    return greedy_pairs(similar, min_oks, pairs)


def score_video(frames: Sequence[Frame], min_oks: float = 0.5) -> VideoScores:
    """The scores of a video (see `VideoScores`)."""
    matched, total, complete = 0, 0, 0
    last_id: dict[int, int] = {}
    ids: dict[int, set[int]] = {}
    switches = 0
    # per (true id): keypoints found (K, 2) and true (K, 2) per frame, NaN where missing
    paths: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}
    for frame in frames:
        labelled = frame.truth.keypoints[..., 2] > 0
        present = labelled.any(1)
        pairs = match(frame.truth, frame.areas, frame.found, min_oks, last_id)
        total += int(present.sum())
        hits = present & (pairs >= 0)
        matched += int(hits.sum())
        complete += int(hits.sum() == present.sum())
        found = frame.found.convert(COCO17)
        for true, person in enumerate(pairs):
            true_id = int(frame.truth.track_ids[true])
            truth_xy = np.where(labelled[true, :, None], frame.truth.keypoints[true, :, :2], np.nan)
            found_xy = np.full_like(truth_xy, np.nan)
            if person >= 0 and present[true]:
                track = int(found.track_ids[person])
                if true_id in last_id and last_id[true_id] != track:
                    switches += 1
                last_id[true_id] = track
                ids.setdefault(true_id, set()).add(track)
                seen = found.keypoints[person, :, 2] > 0
                found_xy = np.where(seen[:, None], found.keypoints[person, :, :2], np.nan)
            paths.setdefault(true_id, []).append((found_xy, truth_xy))
    errors = []
    for path in paths.values():
        found_xy = np.stack([f for f, _ in path])
        truth_xy = np.stack([t for _, t in path])
        accel = np.diff(found_xy, 2, axis=0) - np.diff(truth_xy, 2, axis=0)
        errors.append(np.linalg.norm(accel, axis=-1).ravel())
    errors = np.concatenate(errors) if errors else np.zeros(0)
    errors = errors[~np.isnan(errors)]
    return VideoScores(
        recall=matched / max(total, 1),
        complete_frames=complete / max(len(frames), 1),
        id_switches=switches,
        fragments=sum(len(s) - 1 for s in ids.values()),
        jitter=float(errors.mean()) if len(errors) else float("nan"),
    )
