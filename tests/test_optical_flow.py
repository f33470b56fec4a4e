"""Points followed from frame to frame by optical flow."""

import cv2
import numpy as np

from multipose.optical_flow import follow_points


def textured(height: int = 240, width: int = 320, seed: int = 0) -> np.ndarray:
    """A grey picture of blurred noise (texture everywhere for the flow to follow)."""
    noise = np.random.default_rng(seed).integers(0, 256, (height, width)).astype(np.uint8)
    return cv2.GaussianBlur(noise, (0, 0), 2)


def test_points_follow_a_moving_picture():
    picture = textured(300, 400)
    before, after = picture[30:270, 40:360], picture[32:272, 37:357]  # moved 3 right, 2 up
    points = np.stack(np.meshgrid(np.arange(60, 260, 40), np.arange(50, 200, 40)), -1)
    points = points.reshape(-1, 2).astype(np.float32)
    moved, followed = follow_points(before, after, points)
    assert followed.all()
    np.testing.assert_allclose(moved - points, np.tile([3.0, -2.0], (len(points), 1)), atol=0.1)


def test_points_on_a_blank_area_or_leaving_the_frame_are_not_followed():
    picture = textured(300, 400)
    before, after = picture[30:270, 40:360].copy(), picture[30:270, 30:350].copy()  # 10 right
    before[:, :100], after[:, :110] = 128, 128  # blank on the left
    points = np.array([[50.0, 120.0], [315.0, 120.0], [200.0, 120.0]], np.float32)
    _, followed = follow_points(before, after, points)
    assert followed.tolist() == [False, False, True]  # blank, out of the frame, followed
    empty, none = follow_points(before, after, np.zeros((0, 2)))
    assert empty.shape == (0, 2) and none.shape == (0,)
