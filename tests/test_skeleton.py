import numpy as np
import pytest

from multipose.errors import MultiposeError
from multipose.skeleton import (
    BODY25,
    COCO17,
    COCO18,
    CROWDPOSE14,
    LAYOUTS,
    convert_keypoints,
    get_layout,
    layout_for_count,
)


def random_people(rng, layout, n=6, p_found=0.8):
    kp = np.zeros((n, layout.num_keypoints, 3), np.float32)
    kp[..., :2] = rng.uniform(0, 500, (n, layout.num_keypoints, 2))
    kp[..., 2] = rng.uniform(0.1, 1.0, (n, layout.num_keypoints))
    kp[rng.uniform(size=(n, layout.num_keypoints)) > p_found] = 0
    return kp


def test_coco18_index_tables_match_the_design_notes():
    # COCO-17 index of each COCO-18 part, and the COCO-18 -> COCO-17 export order.
    coco17_of_coco18 = [0, None, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3]
    for j18, j17 in enumerate(coco17_of_coco18):
        name = COCO18.keypoints[j18]
        assert (COCO17.index(name) if name in COCO17.keypoints else None) == j17
    export = [0, 15, 14, 17, 16, 5, 2, 6, 3, 7, 4, 11, 8, 12, 9, 13, 10]
    assert [COCO18.index(name) for name in COCO17.keypoints] == export


def test_body25_order_and_pairs():
    assert BODY25.keypoints[8] == "mid_hip" and BODY25.keypoints[19] == "left_big_toe"
    assert BODY25.keypoints[24] == "right_heel"


@pytest.mark.parametrize("layout", list(LAYOUTS.values()), ids=list(LAYOUTS))
def test_layouts_are_consistent(layout):
    k = layout.num_keypoints
    assert len(set(layout.keypoints)) == k
    assert all(0 <= a < k and 0 <= b < k and a != b for a, b in layout.limbs)
    assert len(layout.limb_colors) == len(layout.limbs)
    assert len(layout.keypoint_colors) == k
    assert layout.sigmas is None or len(layout.sigmas) == k
    flip = layout.flip_index
    assert (flip[flip] == np.arange(k)).all()
    for j in range(k):  # left and right swap; the midline stays
        name, mirror = layout.keypoints[j], layout.keypoints[flip[j]]
        if name.startswith("left_"):
            assert mirror == "right_" + name[5:]
        elif name.startswith("right_"):
            assert mirror == "left_" + name[6:]
        else:
            assert mirror == name


def test_limb_colours_follow_the_side_of_the_body():
    left_arm = COCO17.limbs.index((7, 9))  # left elbow - left wrist
    right_arm = COCO17.limbs.index((8, 10))
    torso = COCO17.limbs.index((5, 6))
    colors = COCO17.limb_colors
    assert len({colors[left_arm], colors[right_arm], colors[torso]}) == 3


def test_coco17_round_trips_through_coco18_and_body25(rng):
    kp = random_people(rng, COCO17)
    for via in (COCO18, BODY25):
        back = convert_keypoints(convert_keypoints(kp, COCO17, via), via, COCO17)
        np.testing.assert_array_equal(back, kp)


def test_coco18_round_trips_through_body25(rng):
    kp = random_people(rng, COCO18)
    back = convert_keypoints(convert_keypoints(kp, COCO18, BODY25), BODY25, COCO18)
    np.testing.assert_array_equal(back, kp)


def test_body25_keeps_what_coco18_can_hold(rng):
    kp = random_people(rng, BODY25)
    back = convert_keypoints(convert_keypoints(kp, BODY25, COCO18), COCO18, BODY25)
    kept = [j for j, name in enumerate(BODY25.keypoints) if name in COCO18.keypoints]
    np.testing.assert_array_equal(back[:, kept], kp[:, kept])
    feet = [BODY25.index(n) for n in BODY25.keypoints[19:]]
    assert (back[:, feet] == 0).all()  # what COCO-18 cannot give is zero


def test_neck_and_mid_hip_are_derived_only_from_both_parents():
    kp = np.zeros((2, 17, 3), np.float32)
    kp[:, 5] = [100, 50, 0.9]  # left shoulder
    kp[:, 6] = [60, 54, 0.7]  # right shoulder
    kp[:, 11] = [95, 150, 0.8]
    kp[:, 12] = [65, 150, 0.6]
    kp[1, 6] = 0  # second person: right shoulder missing
    body = convert_keypoints(kp, COCO17, BODY25)
    np.testing.assert_allclose(body[0, 1], [80, 52, 0.7])
    np.testing.assert_array_equal(body[1, 1], [0, 0, 0])
    np.testing.assert_allclose(body[:, 8], [[80, 150, 0.6]] * 2)
    coco18 = convert_keypoints(kp, COCO17, COCO18)
    np.testing.assert_allclose(coco18[0, 1], [80, 52, 0.7])
    assert coco18[1, 1, 2] == 0


def test_crowdpose_converts_by_name():
    kp = np.zeros((1, 14, 3), np.float32)
    kp[0, :, :2] = np.arange(28).reshape(14, 2)
    kp[0, :, 2] = 1
    coco = convert_keypoints(kp, CROWDPOSE14, COCO17)
    np.testing.assert_array_equal(coco[0, 5], kp[0, 0])  # left shoulder
    assert (coco[0, :5] == 0).all()  # no face in CrowdPose


def test_layout_lookup_and_errors():
    assert get_layout("COCO-18") is COCO18 and get_layout("body_25") is BODY25
    assert layout_for_count(25) is BODY25
    with pytest.raises(MultiposeError, match="unknown keypoint layout"):
        get_layout("mpii")
    with pytest.raises(MultiposeError, match="13 keypoints"):
        layout_for_count(13)
    with pytest.raises(MultiposeError, match="do not fit layout coco17"):
        convert_keypoints(np.zeros((1, 18, 3)), COCO17, COCO18)
