"""Overlays: people drawn on an image with their layout's limb colours."""

from __future__ import annotations

import cv2
import numpy as np

from multipose.poses import Poses

_SHIFT = 4  # cv2 fixed-point bits, for sub-pixel drawing
_ONE = 1 << _SHIFT
_FAR = float(1 << 20)  # points farther out (in pixels) are not drawn; 16 x this fits int32


def _point(xy: np.ndarray) -> tuple[int, int]:
    return round(float(xy[0]) * _ONE), round(float(xy[1]) * _ONE)


def _drawable(keypoints: np.ndarray, threshold: float) -> np.ndarray:
    """Which of (..., 3) keypoints score above `threshold` and lie within reach."""
    return (keypoints[..., 2] > threshold) & (np.abs(keypoints[..., :2]) <= _FAR).all(axis=-1)


def _id_color(track_id: int) -> tuple[int, int, int]:
    """A stable, distinct colour for an identity (golden-ratio hue steps)."""
    hue = int((track_id * 0.618034 % 1.0) * 180)
    hsv = np.array([[[hue, 220, 255]]], dtype=np.uint8)
    return tuple(int(c) for c in cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0])


def draw(
    image: np.ndarray,
    poses: Poses,
    threshold: float = 0.1,
    boxes: bool = False,
    ids: bool = False,
    thickness: int | None = None,
) -> np.ndarray:
    """A copy of the RGB `image` with every person's limbs and keypoints drawn.

    Keypoints scoring at or below `threshold`, or lying more than 2^20 pixels out (or at NaN),
    are left out, with their limbs. `boxes` draws each person's box (given or around the
    keypoints); `ids` labels each person with its track id (or its index when it has none) and
    score."""
    canvas = np.ascontiguousarray(image.copy())
    if thickness is None:
        thickness = max(1, round(min(canvas.shape[:2]) / 250))
    radius = thickness + 1
    layout = poses.layout
    for n in range(len(poses)):
        kp = poses.keypoints[n]
        shown = _drawable(kp, threshold)
        for (a, b), color in zip(layout.limbs, layout.limb_colors, strict=True):
            if shown[a] and shown[b]:
                cv2.line(
                    canvas, _point(kp[a]), _point(kp[b]), color, thickness, cv2.LINE_AA, _SHIFT
                )
        for j in np.flatnonzero(shown):
            cv2.circle(
                canvas,
                _point(kp[j]),
                radius * _ONE,
                layout.keypoint_colors[j],
                -1,
                cv2.LINE_AA,
                _SHIFT,
            )
    if boxes or ids:
        _draw_labels(canvas, poses, boxes, ids, thickness)
    return canvas


def _draw_labels(canvas: np.ndarray, poses: Poses, boxes: bool, ids: bool, thickness: int) -> None:
    all_boxes = poses.boxes if poses.boxes is not None else poses.keypoint_boxes()
    font_scale = 0.3 + 0.1 * thickness
    for n, box in enumerate(all_boxes.clip(-_FAR, _FAR)):  # the clipped part is off the image
        if not np.isfinite(box).all():
            continue
        x0, y0, x1, y1 = box
        identity = int(poses.track_ids[n]) if poses.track_ids is not None else n
        color = _id_color(identity)
        if boxes:
            cv2.rectangle(
                canvas, _point((x0, y0)), _point((x1, y1)), color, thickness, cv2.LINE_AA, _SHIFT
            )
        if ids:
            label = f"{identity}: {poses.scores[n]:.2f}"
            org = (int(x0) + 2, max(int(y0) - 3, 10))
            found = _drawable(poses.keypoints[n], 0.0)
            if not boxes and found.any():  # centred above the person's highest keypoint
                (width, _), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, font_scale, 1)
                x, y = poses.keypoints[n, found][np.argmin(poses.keypoints[n, found, 1]), :2]
                org = (int(x - width / 2), max(int(y) - 4 * thickness, 10))
            for ink, width in (((0, 0, 0), thickness + 2), (color, thickness)):  # outlined
                cv2.putText(
                    canvas,
                    label,
                    org,
                    cv2.FONT_HERSHEY_SIMPLEX,
                    font_scale,
                    ink,
                    width,
                    cv2.LINE_AA,
                )
