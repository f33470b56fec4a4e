import numpy as np
import pytest

from multipose.errors import MultiposeError
from multipose.poses import Poses
from multipose.skeleton import BODY25, COCO17, COCO18


def make_poses(rng, n=5, layout=COCO17, with_boxes=True):
    k = layout.num_keypoints
    kp = np.zeros((n, k, 3), np.float32)
    kp[..., :2] = rng.uniform(10, 400, (n, k, 2)).round(2)
    kp[..., 2] = rng.uniform(0.05, 1, (n, k)).round(3)
    kp[rng.uniform(size=(n, k)) < 0.2] = 0
    boxes = Poses(kp, layout=layout).keypoint_boxes() if with_boxes else None
    return Poses(kp, rng.uniform(0, 1, n).astype(np.float32), layout, boxes)


def test_defaults_and_convention():
    kp = np.array([[[10, 20, 0.5], [30, 40, 0.0], [50, 60, 1.0]] + [[0, 0, 0]] * 14])
    poses = Poses(kp)
    assert poses.keypoints.dtype == np.float32 and poses.keypoints.shape == (1, 17, 3)
    assert poses.scores[0] == pytest.approx(0.75)  # mean of the found keypoints
    np.testing.assert_array_equal(poses.keypoints[0, 1], [0, 0, 0])  # not found -> zeros
    assert len(Poses.empty()) == 0 and Poses.empty("body25").keypoints.shape == (0, 25, 3)


def test_shape_and_length_errors():
    with pytest.raises(MultiposeError, match="expected"):
        Poses(np.zeros((2, 18, 3)), layout=COCO17)
    with pytest.raises(MultiposeError, match="2 scores given for 1 people"):
        Poses(np.zeros((1, 17, 3)), scores=[1, 2])
    with pytest.raises(MultiposeError, match="boxes"):
        Poses(np.zeros((1, 17, 3)), boxes=np.zeros((3, 4)))


def test_selection_and_filter(rng):
    poses = make_poses(rng, 8)
    strong = poses.filter(min_score=0.5)
    assert len(strong) == (poses.scores >= 0.5).sum()
    assert (strong.scores >= 0.5).all()
    many = poses.filter(min_keypoints=12, keypoint_threshold=0.3)
    assert (many.visible_counts(0.3) >= 12).all()
    assert len(many) == (poses.visible_counts(0.3) >= 12).sum()
    one = poses[3]
    np.testing.assert_array_equal(one.keypoints[0], poses.keypoints[3])
    np.testing.assert_array_equal(one.boxes[0], poses.boxes[3])


def test_transform_maps_found_points_and_boxes_only(rng):
    poses = make_poses(rng)
    moved = poses.transform(scale=(2.0, 0.5), offset=(10.0, -3.0))
    found = poses.keypoints[..., 2] > 0
    np.testing.assert_allclose(moved.keypoints[found][:, 0], poses.keypoints[found][:, 0] * 2 + 10)
    np.testing.assert_allclose(moved.keypoints[found][:, 1], poses.keypoints[found][:, 1] / 2 - 3)
    assert (moved.keypoints[~found] == 0).all()
    np.testing.assert_allclose(moved.boxes, moved.keypoint_boxes(), rtol=1e-5)


def test_affine_rotation_keeps_boxes_around_points(rng):
    poses = make_poses(rng)
    a = np.deg2rad(30)
    m = np.array([[np.cos(a), -np.sin(a), 5], [np.sin(a), np.cos(a), 7]])
    rotated = poses.affine(m)
    found = poses.keypoints[..., 2] > 0
    expected = poses.keypoints[..., :2] @ m[:, :2].T + m[:, 2]
    np.testing.assert_allclose(rotated.keypoints[..., :2][found], expected[found], rtol=1e-5)
    inside = rotated.keypoint_boxes()
    assert (rotated.boxes[:, :2] <= inside[:, :2] + 1e-3).all()
    assert (rotated.boxes[:, 2:] >= inside[:, 2:] - 1e-3).all()


def test_concatenate(rng):
    a, b = make_poses(rng, 2), make_poses(rng, 3, with_boxes=False)
    both = Poses.concatenate([a, b])
    assert len(both) == 5
    np.testing.assert_array_equal(both.boxes[2:], b.keypoint_boxes())
    with pytest.raises(MultiposeError, match="different layouts"):
        Poses.concatenate([a, make_poses(rng, 1, COCO18)])


def test_coco_round_trip(rng):
    poses = make_poses(rng)
    entries = poses.to_coco(image_id=42)
    assert all(e["image_id"] == 42 and e["category_id"] == 1 for e in entries)
    assert all(len(e["keypoints"]) == 51 for e in entries)
    back = Poses.from_coco(entries)
    np.testing.assert_allclose(back.keypoints, poses.keypoints, atol=1e-3)
    np.testing.assert_allclose(back.scores, poses.scores, rtol=1e-6)


def test_openpose_layouts_are_reported_in_coco17(rng):
    poses = make_poses(rng, layout=COCO17)
    as_body25 = poses.convert(BODY25)
    entries = as_body25.to_coco(image_id=1)
    back = Poses.from_coco(entries)
    assert back.layout is COCO17
    np.testing.assert_allclose(back.keypoints, poses.keypoints, atol=1e-3)


def test_ground_truth_entries_get_unit_scores():
    ann = {"keypoints": [10, 20, 2, 30, 40, 1] + [0] * 45, "bbox": [5, 6, 30, 40]}
    poses = Poses.from_coco([ann])
    np.testing.assert_array_equal(poses.keypoints[0, :2, 2], [1, 1])
    np.testing.assert_array_equal(poses.boxes[0], [5, 6, 35, 46])
    assert poses.scores[0] == 1


def test_openpose_document_round_trip(rng):
    poses = make_poses(rng, layout=COCO18)
    poses.track_ids = np.arange(len(poses)) + 7
    doc = poses.to_openpose("coco18")
    assert doc["version"] == 1.3 and len(doc["people"]) == len(poses)
    person = doc["people"][0]
    assert person["person_id"] == [7] and len(person["pose_keypoints_2d"]) == 54
    assert person["face_keypoints_2d"] == [] and person["hand_left_keypoints_2d"] == []
    back = Poses.from_openpose(doc)
    np.testing.assert_array_equal(back.keypoints, poses.keypoints)
    np.testing.assert_array_equal(back.scores, poses.scores)
    np.testing.assert_array_equal(back.track_ids, poses.track_ids)


def test_openpose_document_without_scores_or_ids():
    doc = {"version": 1.3, "people": [{"person_id": [-1], "pose_keypoints_2d": [1.0] * 75}]}
    poses = Poses.from_openpose(doc)
    assert poses.layout is BODY25 and poses.track_ids is None
    assert poses.scores[0] == 1.0
    with pytest.raises(MultiposeError, match="no 'people'"):
        Poses.from_openpose({"version": 1.3})
    with pytest.raises(MultiposeError, match="lengths"):
        Poses.from_openpose({"people": [{"pose_keypoints_2d": [1, 2]}]})


def test_resized_keeps_pixel_centres(rng):
    poses = make_poses(rng)
    doubled = poses.resized(2.0)
    found = poses.keypoints[..., 2] > 0
    np.testing.assert_allclose(
        doubled.keypoints[found][:, :2], poses.keypoints[found][:, :2] * 2 + 0.5
    )
    np.testing.assert_allclose(doubled.resized(0.5).keypoints, poses.keypoints, atol=1e-4)
