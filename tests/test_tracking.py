import numpy as np

from multipose.data.synthetic import make_scene
from multipose.poses import Poses
from multipose.tracking import Tracker


def moving(scene_poses: Poses, frame: int, velocity: np.ndarray) -> Poses:
    kp = scene_poses.keypoints.copy()
    found = kp[..., 2] > 0
    kp[..., :2] += (velocity * frame)[:, None, :]
    kp[~found] = 0
    return Poses(kp, scene_poses.scores)


def test_ids_stay_with_people_that_move_and_shuffle():
    scene = make_scene(6, 640, 480, seed=3, p_missing=0.0, max_iou=0.0)
    velocity = np.random.default_rng(0).uniform(-3, 3, (6, 2))
    tracker = Tracker()
    first = None
    for frame in range(30):
        poses = moving(scene.poses, frame, velocity)
        order = np.random.default_rng(frame).permutation(6)  # detection order changes
        tracked = tracker.update(poses[order])
        ids = np.empty(6, np.int64)
        ids[order] = tracked.track_ids
        if first is None:
            first = ids.copy()
        np.testing.assert_array_equal(ids, first)
    assert sorted(first.tolist()) == list(range(6))


def test_lost_people_are_remembered_a_while_then_new_ids():
    scene = make_scene(2, 640, 480, seed=1, p_missing=0.0, max_iou=0.0)
    tracker = Tracker(memory=2)
    both = tracker.update(scene.poses).track_ids
    tracker.update(scene.poses[[0]])  # person 1 unseen for a frame
    back = tracker.update(scene.poses)
    assert back.track_ids.tolist() == both.tolist()
    for _ in range(3):  # person 1 gone longer than the memory
        tracker.update(scene.poses[[0]])
    again = tracker.update(scene.poses)
    assert again.track_ids[0] == both[0] and again.track_ids[1] not in both
