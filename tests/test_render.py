import numpy as np

from multipose.poses import Poses
from multipose.render import draw
from multipose.skeleton import COCO17, COCO18


def one_person(score_of_left_wrist=0.9):
    kp = np.zeros((1, 17, 3), np.float32)
    kp[0, 5] = [100, 100, 0.9]  # left shoulder
    kp[0, 7] = [100, 160, 0.9]  # left elbow
    kp[0, 9] = [100, 220, score_of_left_wrist]  # left wrist
    kp[0, 6] = [40, 100, 0.9]  # right shoulder
    return Poses(kp)


def test_limbs_are_drawn_in_their_layout_colours():
    image = np.zeros((300, 300, 3), np.uint8)
    out = draw(image, one_person(), thickness=3)
    upper_arm = COCO17.limb_colors[COCO17.limbs.index((5, 7))]
    shoulders = COCO17.limb_colors[COCO17.limbs.index((5, 6))]
    assert tuple(out[130, 100]) == upper_arm  # midway along the left upper arm
    assert tuple(out[100, 70]) == shoulders
    assert tuple(out[10, 10]) == (0, 0, 0)
    assert not image.any()  # the input is not drawn on


def test_low_scores_are_left_out():
    image = np.zeros((300, 300, 3), np.uint8)
    shown = draw(image, one_person(0.9), threshold=0.5)
    hidden = draw(image, one_person(0.2), threshold=0.5)
    assert shown[190, 100].any() and not hidden[190, 100].any()  # the forearm
    assert shown[220, 100].any() and not hidden[220, 100].any()  # the wrist


def test_boxes_and_ids_add_marks_outside_the_skeleton():
    image = np.zeros((300, 300, 3), np.uint8)
    poses = one_person()
    poses.track_ids = np.array([3])
    plain = draw(image, poses, thickness=2)
    marked = draw(image, poses, thickness=2, boxes=True, ids=True)
    assert marked[160, 40].any() and not plain[160, 40].any()  # left edge of the box


def test_every_layout_draws():
    image = np.zeros((100, 100, 3), np.uint8)
    kp = np.zeros((1, 18, 3), np.float32)
    kp[0, :, :2] = np.random.default_rng(0).uniform(10, 90, (18, 2))
    kp[0, :, 2] = 1
    out = draw(image, Poses(kp, layout=COCO18).convert("body25"))
    assert out.any()


def test_an_id_without_a_box_sits_above_the_head():
    """Centred over the highest keypoint (the left shoulder here, x = 100), not at the corner
    of the keypoints' box (x = 40), where it can fall on a neighbour."""
    image = np.zeros((300, 300, 3), np.uint8)
    poses = one_person()
    poses.track_ids = np.array([3])
    labelled = draw(image, poses, thickness=2, ids=True)
    ink = np.argwhere((labelled[:95] != 0).any(axis=2))  # above the shoulders
    assert len(ink) and abs(ink[:, 1].mean() - 100) < 8 and ink[:, 0].max() < 95
