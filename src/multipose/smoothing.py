"""Steadier keypoints in video: a One-Euro filter (Casiez et al., CHI 2012) per keypoint per
track. Each coordinate is low-pass filtered with a cut-off frequency that rises with its speed:
`min_cutoff` (Hz) sets how still a keypoint at rest is held, `beta` how fast the cut-off rises
with speed, so that motion is followed without lag. The filter works in the body's moving
frame: last frame's keypoints are first moved by the body's shift (a robust mean of the motion
of the raw keypoints found in both frames, weighted by the lesser of their two scores: keypoints
that move unlike the rest, a limb in motion or a keypoint found astray, are weighted down), so
that a person walking or a camera panning moves the whole body without lag, while the limbs'
own shake is smoothed. The body's velocity (its shift over the time between frames) is itself
low-pass filtered at BODY_CUTOFF: a steady pan or walk passes unchanged, while a jump of the
whole person in one frame (a detector's wobble) is spread over a few frames, but one of more
than JUMP of its height starts the filter afresh (a person found anew). Speeds are measured in
person heights per second (the height of the track's keypoint box), so one `beta` suits near
and far people."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from multipose.poses import Poses

DERIVATIVE_CUTOFF = 1.0  # Hz, the cut-off of the filtered speed itself
BODY_CUTOFF = 6.0  # Hz, the cut-off of the body's velocity
# A body moving more than this share of its height in one step is found anew (another
# person's track, or a full pass in video mode correcting the followed keypoints): its filter
# starts afresh. On the tuning clips (bench/video.py --tuning) video mode's smoothed AP summed
# over the six: 1.46 without, 1.52 / 1.52 / 1.51 / 1.45 at 0.05 / 0.1 / 0.15 / 0.2 (per-photo:
# 1.72-1.73 in all; at 0.05 its jitter rose by up to 80%).
JUMP = 0.1
REWEIGHTS = 3  # rounds of weighting down the keypoints that move unlike the body


def body_shift(motion: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """The body's shift (2,) from its keypoints' motions (K, 2), weighted (K,): the weighted
    mean, then REWEIGHTS times again with each keypoint's weight divided by 1 + (d / 2s)^2 (d
    its distance from the shift, s the robust spread of those distances: Cauchy weights)."""
    if weight.sum() <= 0:
        return np.zeros(2)
    shift = weight @ motion / weight.sum()
    for _ in range(REWEIGHTS):
        distance = np.linalg.norm(motion - shift, axis=1)
        spread = 1.4826 * np.median(distance[weight > 0]) + 1e-6
        robust = weight / (1 + (distance / (2 * spread)) ** 2)
        shift = robust @ motion / robust.sum()
    return shift


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray:
    """The smoothing factor of a first-order low-pass filter at `cutoff` Hz over `dt` s."""
    return 1.0 / (1.0 + 1.0 / (2 * np.pi * np.asarray(cutoff) * dt))


@dataclass
class _State:
    """One track's filter: last filtered keypoints (K, 2), last raw ones (K, 2) and their
    scores (K,), the speed of the filtered ones relative to the body (K, 2), which keypoints
    were found (K,), the time of its last frame and the body's filtered velocity then (2,:
    pixels per second, so that a track seen again after a gap moves on at its own pace)."""

    value: np.ndarray
    raw: np.ndarray
    score: np.ndarray
    speed: np.ndarray
    held: np.ndarray
    time: float
    velocity: np.ndarray | None = None


@dataclass
class OneEuro:
    """Smooths the keypoints of tracked people (`track_ids` set) frame after frame; a keypoint
    that was not found restarts its filter when it is found again, and so does a person (a
    track missing from a frame). The defaults were chosen on the tuning clips made from
    coco-mini-train2017 (`bench/video.py --tuning`; min_cutoff 0.5-2 Hz, beta 2-10: a lower
    beta steadies more but lowers AP and follows limbs later)."""

    min_cutoff: float = 1.0
    beta: float = 5.0
    states: dict[int, _State] = field(default_factory=dict)
    present: set[int] = field(default_factory=set)  # the tracks of the last frame

    def push(self, item: Any, poses: Poses, time_s: float) -> list[tuple[Any, Poses]]:
        """As TwoWayOneEuro's: the frame (`item` and its smoothed people) at once."""
        return [(item, self(poses, time_s))]

    def flush(self) -> list[tuple[Any, Poses]]:
        """As TwoWayOneEuro's: nothing is held."""
        return []

    def __call__(self, poses: Poses, time_s: float) -> Poses:
        """The people of the frame at `time_s` (seconds) with smoothed keypoints."""
        keypoints = poses.keypoints.copy()
        present = {int(track_id) for track_id in poses.track_ids}
        for track_id in self.present - present:  # missing now: seen again, it starts afresh
            state = self.states[track_id]
            state.held[:], state.velocity = False, None
        self.present = present
        for person, track_id in enumerate(poses.track_ids):
            keypoints[person, :, :2] = self._smooth(int(track_id), keypoints[person], time_s)
        return Poses(keypoints, poses.scores, poses.layout, poses.boxes, poses.track_ids)

    def _smooth(self, track_id: int, keypoints: np.ndarray, time_s: float) -> np.ndarray:
        found = keypoints[:, 2] > 0
        xy = keypoints[:, :2].astype(np.float64)
        state = self.states.get(track_id)
        if state is None or time_s <= state.time:
            self.states[track_id] = _State(
                xy, xy, keypoints[:, 2], np.zeros_like(xy), found, time_s
            )
            return xy
        dt = time_s - state.time
        weight = np.where(found & state.held, np.minimum(keypoints[:, 2], state.score), 0.0)
        raw_shift = body_shift(xy - state.raw, weight)
        height = np.ptp(xy[found, 1]) if found.sum() > 1 else 1.0
        if np.linalg.norm(raw_shift) > JUMP * max(height, 1.0):  # found anew: start afresh
            self.states[track_id] = _State(
                xy, xy, keypoints[:, 2], np.zeros_like(xy), found, time_s
            )
            return xy
        velocity = raw_shift / dt  # the body's, in pixels per second, low-pass filtered
        if state.velocity is not None:
            velocity = state.velocity + _alpha(BODY_CUTOFF, dt) * (velocity - state.velocity)
        prior = state.value + velocity * dt  # where the body's motion takes the last keypoints
        speed = (xy - prior) / dt / max(height, 1.0)
        speed = state.speed + _alpha(DERIVATIVE_CUTOFF, dt) * (speed - state.speed)
        cutoff = self.min_cutoff + self.beta * np.linalg.norm(speed, axis=1, keepdims=True)
        smooth = prior + _alpha(cutoff, dt) * (xy - prior)
        restart = found & ~state.held
        smooth[restart], speed[restart] = xy[restart], 0.0
        keep = found[:, None]
        self.states[track_id] = _State(
            np.where(keep, smooth, prior),
            np.where(keep, xy, state.raw + raw_shift),
            keypoints[:, 2],
            np.where(keep, speed, state.speed),
            found,
            time_s,
            velocity,
        )
        return np.where(keep, smooth, xy)


class TwoWayOneEuro:
    """The One-Euro filter run both ways, for video files: each frame's keypoints are the mean
    of the forward filter's (from the frames before) and of a backward one run from `lag`
    frames ahead back to it, so that the one-way filter's lag behind motion cancels; frames
    come out `lag` frames late. `push` a frame's tracked people (and anything to carry along
    with them, `item`), get back the frames now complete; `flush` at the end gives the rest.
    On the tuning clips (bench/video.py --tuning), against the forward filter alone: AP
    summed over the six, per-photo 1.736 -> 1.757, video mode 1.508 -> 1.551 (raw 1.725 and
    1.531), jitter about as low; a lag of 5 frames did as well as the whole clip."""

    def __init__(self, min_cutoff: float = 1.0, beta: float = 5.0, lag: int = 5) -> None:
        self.min_cutoff, self.beta, self.lag = min_cutoff, beta, max(lag, 0)
        self.forward = OneEuro(min_cutoff, beta)
        self.pending: deque[tuple[Any, Poses, Poses, float]] = deque()

    def push(self, item: Any, poses: Poses, time_s: float) -> list[tuple[Any, Poses]]:
        """Frames now complete (`item`, smoothed people), oldest first."""
        self.pending.append((item, poses, self.forward(poses, time_s), time_s))
        done = []
        while len(self.pending) > self.lag:
            done.append(self._release())
        return done

    def flush(self) -> list[tuple[Any, Poses]]:
        """The frames still held, smoothed with what came after them."""
        return [self._release() for _ in range(len(self.pending))]

    def _release(self) -> tuple[Any, Poses]:
        """The oldest frame held, its forward keypoints averaged with a backward filter's run
        from the newest frame held back to it."""
        backward, last = OneEuro(self.min_cutoff, self.beta), self.pending[-1][3]
        for _, raw, _, time_s in reversed(self.pending):
            behind = backward(raw, last - time_s)
        item, _, ahead, _ = self.pending.popleft()
        return item, _mean(ahead, behind)


def _mean(a: Poses, b: Poses) -> Poses:
    """The people of `a` with their keypoints averaged with those of the same track in `b`."""
    rows = {int(i): row for row, i in enumerate(b.track_ids.tolist())}
    keypoints = a.keypoints.copy()
    for person, track_id in enumerate(a.track_ids.tolist()):
        keypoints[person, :, :2] = (
            a.keypoints[person, :, :2] + b.keypoints[rows[track_id], :, :2]
        ) / 2
    return Poses(keypoints, a.scores, a.layout, a.boxes, a.track_ids)
