"""Points followed from one video frame to the next by pyramidal Lucas-Kanade optical flow
(OpenCV's), checked both ways: a point is followed where flowing it forward and then back
lands within AGREE pixels of where it started."""

from __future__ import annotations

import cv2
import numpy as np

WINDOW = (21, 21)  # pixels about each point whose texture is matched, per pyramid level
LEVELS = 3  # pyramid levels above the frame: motions up to ~2^3 x the window followed
AGREE = 1.0  # pixels: forward then backward flow at most this far from the start
CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.03)


def grey(image: np.ndarray) -> np.ndarray:
    """An RGB uint8 frame as the grey image the flow reads."""
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def follow_points(
    before: np.ndarray, after: np.ndarray, points: np.ndarray, agree: float = AGREE
) -> tuple[np.ndarray, np.ndarray]:
    """Where `points` (N, 2: x, y) of the grey frame `before` lie in the grey frame `after`,
    and whether each was followed (both ways within `agree` pixels, and inside the frame)."""
    if not len(points):
        return np.zeros((0, 2), np.float32), np.zeros(0, bool)
    start = np.ascontiguousarray(points, np.float32).reshape(-1, 1, 2)
    settings = {"winSize": WINDOW, "maxLevel": LEVELS, "criteria": CRITERIA}
    ahead, found, _ = cv2.calcOpticalFlowPyrLK(before, after, start, None, **settings)
    back, found_back, _ = cv2.calcOpticalFlowPyrLK(after, before, ahead, None, **settings)
    ahead = ahead.reshape(-1, 2)
    error = np.linalg.norm((back - start).reshape(-1, 2), axis=1)
    both_ways = found.ravel().astype(bool) & found_back.ravel().astype(bool)
    followed = both_ways & in_frame(ahead, after.shape)
    return ahead, followed & (error <= agree)


def in_frame(points: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Whether each of `points` (..., 2: x, y) lies inside a frame of `shape` (height, width)."""
    height, width = shape[:2]
    x, y = points[..., 0], points[..., 1]
    return (x >= 0) & (x < width) & (y >= 0) & (y < height)
