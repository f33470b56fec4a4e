"""Video with ground truth, made from an annotated photo: a camera moving over it (pan, zoom, a
small rotation) and optional grey bars crossing the frame in front of the people. Each frame is
the photo seen through that frame's transform, and the people's keypoints are moved by the same
transform; keypoints leaving the frame or behind a bar are no longer labelled there."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from multipose.poses import Poses

BAR_GREY = 128


@dataclass(frozen=True)
class Motion:
    """A camera move over `frames` frames, each `view` times the photo's size (grey beyond it): the
    view's centre pans by `pan` (fractions of the photo's width and height, over the clip,
    centred on the photo's centre), zooms in from 1 to `zoom` and turns from 0 to `rotation`
    degrees. `bars` vertical bars `bar_width` (of the frame's width) wide cross the frame left
    to right, evenly spaced in time."""

    frames: int = 30
    view: float = 0.8
    pan: tuple[float, float] = (0.2, 0.0)
    zoom: float = 1.0
    rotation: float = 0.0
    bars: int = 0
    bar_width: float = 0.1

    def size(self, width: int, height: int) -> tuple[int, int]:
        """The frames' width and height for a photo of `width` x `height`."""
        return round(width * self.view), round(height * self.view)

    def transforms(self, width: int, height: int) -> np.ndarray:
        """(frames, 2, 3) affine maps from photo pixels to each frame's pixels."""
        out_w, out_h = self.size(width, height)
        maps = np.empty((self.frames, 2, 3))
        for frame in range(self.frames):
            t = frame / max(self.frames - 1, 1)
            centre = np.array([(width - 1) / 2, (height - 1) / 2])
            centre += (t - 0.5) * np.array(self.pan) * (width, height)
            scale, angle = 1 + (self.zoom - 1) * t, np.radians(self.rotation * t)
            linear = scale * np.array(
                [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
            )
            maps[frame, :, :2] = linear
            maps[frame, :, 2] = np.array([(out_w - 1) / 2, (out_h - 1) / 2]) - linear @ centre
        return maps

    def bar_spans(self, frame: int, width: int) -> list[tuple[int, int]]:
        """The x ranges [x0, x1) of the bars in frame `frame` of a clip `width` wide."""
        side = round(self.bar_width * width)
        spans = []
        for bar in range(self.bars):
            t = (frame / max(self.frames - 1, 1) + bar / self.bars) % 1.0
            x0 = round(-side + t * (width + side))
            spans.append((max(x0, 0), min(x0 + side, width)))
        return spans


def motion_clip(
    photo: np.ndarray, people: Poses, motion: Motion
) -> Iterator[tuple[np.ndarray, Poses, np.ndarray]]:
    """Each frame (RGB uint8), its people (their `track_ids` the index of each person in
    `people` unless given; keypoints out of the frame or behind a bar unlabelled; boxes, if
    given, around the moved corners) and its photo-to-frame transform (2, 3)."""
    height, width = photo.shape[:2]
    out_w, out_h = motion.size(width, height)
    ids = np.arange(len(people)) if people.track_ids is None else people.track_ids
    for frame, transform in enumerate(motion.transforms(width, height)):
        image = cv2.warpAffine(
            photo,
            transform,
            (out_w, out_h),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=(BAR_GREY,) * 3,
        )
        moved = Poses(people.keypoints, people.scores, people.layout, people.boxes, ids)
        moved = moved.affine(transform)
        keypoints = moved.keypoints
        x, y = keypoints[..., 0], keypoints[..., 1]
        hidden = (x < 0) | (y < 0) | (x > out_w - 1) | (y > out_h - 1)
        for x0, x1 in motion.bar_spans(frame, out_w):
            image[:, x0:x1] = BAR_GREY
            hidden |= (x >= x0) & (x < x1)
        keypoints[hidden] = 0
        yield image, Poses(keypoints, moved.scores, moved.layout, moved.boxes, ids), transform
