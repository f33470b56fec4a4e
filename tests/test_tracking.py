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


def test_a_moving_person_keeps_the_id_through_a_gap_by_motion_prediction():
    # Two people side by side walking right at 12 px per frame; person 0 vanishes for 5 frames
    # (moving 60 px, more than its width) and comes back where its motion says.
    scene = make_scene(2, 1280, 480, seed=5, p_missing=0.0, max_iou=0.0)
    velocity = np.array([[12.0, 0.0], [12.0, 0.0]])
    tracker = Tracker(memory=6)
    first = tracker.update(moving(scene.poses, 0, velocity)).track_ids.tolist()
    for frame in range(1, 16):
        poses = moving(scene.poses, frame, velocity)
        hidden = 5 <= frame < 10
        ids = tracker.update(poses[[1]] if hidden else poses).track_ids.tolist()
        assert ids == (first[1:] if hidden else first)
    summary = {t["id"]: t for t in tracker.summary()}
    assert summary[first[0]] == {"id": first[0], "first": 0, "last": 15, "frames": 11}
    assert summary[first[1]]["frames"] == 16


def test_ids_are_never_reused_and_the_summary_lists_ended_tracks():
    scene = make_scene(1, 640, 480, seed=2, p_missing=0.0, max_iou=0.0)
    far = moving(scene.poses, 1, np.array([[400.0, 0.0]]))
    tracker = Tracker(memory=0)  # a person gone a frame is gone
    seen = [tracker.update(p).track_ids[0] for p in (scene.poses, far, scene.poses, far)]
    assert seen == [0, 1, 2, 3]
    assert [t["id"] for t in tracker.summary()] == [0, 1, 2, 3]


def test_a_weaker_duplicate_is_dropped_and_does_not_take_a_persons_id():
    person = make_scene(1, 640, 480, seed=6, p_missing=0.0, max_iou=0.0).poses
    shifted = lambda dx, score: Poses(  # noqa: E731
        person.keypoints + np.array([dx, 0, 0], np.float32), [score], person.layout
    )
    tracker = Tracker()
    for _ in range(5):
        assert tracker.update(shifted(0, 0.9)).track_ids.tolist() == [0]
    # the duplicate lies nearer the track than the person does: the surer one is kept
    both = tracker.update(Poses.concatenate([shifted(1, 0.3), shifted(2, 0.9)]))
    assert both.track_ids.tolist() == [0] and both.scores[0] == np.float32(0.9)
    np.testing.assert_allclose(both.keypoints, shifted(2, 0.9).keypoints)
    # a second person beside them is no duplicate
    other = shifted(200, 0.5)
    apart = tracker.update(Poses.concatenate([shifted(2, 0.9), other]))
    assert apart.track_ids.tolist() == [0, 1]


def test_a_partial_find_is_judged_at_the_persons_scale():
    """Only the head and shoulders found in the first frame, the whole person 12 px off in the next:
    at the tiny scale of the head's own box they would look like someone else; at the larger
    scale of the two they are the same person."""
    person = make_scene(1, 640, 480, seed=6, p_missing=0.0, max_iou=0.0).poses
    head = person.keypoints.copy()
    head[:, 7:] = 0  # COCO-17: head and shoulders only (a box 43 x 43 px)
    tracker = Tracker()
    first = tracker.update(Poses(head, person.scores)).track_ids.tolist()
    whole = person.keypoints + np.array([12.0, 12.0, 0.0], np.float32)
    assert tracker.update(Poses(whole, person.scores)).track_ids.tolist() == first


def test_the_estimators_own_ids_are_kept():
    """Video mode knows whom it followed: its ids win over likeness (here two people swap
    places between frames, which likeness alone would not see)."""
    scene = make_scene(2, 640, 480, seed=1, p_missing=0.0, max_iou=0.0).poses
    tracker = Tracker()
    first = tracker.update(Poses(scene.keypoints, track_ids=[10, 11])).track_ids.tolist()
    swapped = Poses(scene.keypoints[::-1], track_ids=[10, 11])
    assert tracker.update(swapped).track_ids.tolist() == first
    alone = Tracker()  # without ids, likeness decides
    alone.update(Poses(scene.keypoints))
    assert alone.update(Poses(scene.keypoints[::-1])).track_ids.tolist() == first[::-1]
