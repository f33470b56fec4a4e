"""The hybrid of the MobileNet-thin OpenPose and BlazePose: merging people, and the real
pipeline on a real photo."""

import numpy as np
import pytest

import multipose
from multipose.codecs.blazepose import COCO_LANDMARKS, ROI_SCALE
from multipose.geometry import pose_boxes
from multipose.io.coco import CocoDataset
from multipose.io.media import read_image
from multipose.pipelines.blazepose_regions import box_rois
from multipose.pipelines.hybrid import UNMATCHED_WEIGHT, fuse, rescored, skeleton_rois
from multipose.poses import Poses
from multipose.similarity import oks
from multipose.skeleton import BLAZEPOSE33, COCO17

from conftest import SHARED


def _person(rng, shift=0.0):
    kp = np.zeros((17, 3), np.float32)
    kp[:, :2] = rng.uniform(100, 300, (17, 2)) + shift
    kp[:, 2] = 0.8
    return kp


def _as_blazepose(coco: np.ndarray, visibility: float = 0.9) -> np.ndarray:
    kp = np.zeros((33, 3), np.float32)
    kp[COCO_LANDMARKS] = coco
    kp[COCO_LANDMARKS, 2] = visibility
    kp[29] = (200, 400, visibility)  # a heel, which COCO lacks
    return kp


def test_a_matched_person_is_merged_and_the_unmatched_kept():
    rng = np.random.default_rng(0)
    ours = _person(rng)
    ours[9] = 0  # the bottom-up person misses its left wrist
    theirs = _as_blazepose(ours + [2, -2, 0])  # 2 px off, every keypoint
    theirs[COCO_LANDMARKS[9]] = (150, 160, 0.9)
    alone = _as_blazepose(_person(rng, 1000.0))  # far from everyone
    both = Poses(np.stack([theirs, alone]), [0.9, 0.8], BLAZEPOSE33)
    merged = fuse(Poses(ours[None], [0.7], COCO17), both)
    assert merged.layout is BLAZEPOSE33 and len(merged) == 2
    coco = merged.keypoints[0, COCO_LANDMARKS]
    found = ours[:, 2] > 0
    np.testing.assert_allclose(coco[found, :2], ours[found, :2] + [1, -1], atol=1e-4)  # averaged
    np.testing.assert_allclose(coco[9, :2], [150, 160])  # filled from BlazePose
    assert merged.keypoints[0, 29, 2] > 0  # its heel too
    np.testing.assert_allclose(merged.scores, [0.7, 0.8 * UNMATCHED_WEIGHT], rtol=1e-6)


def test_people_are_rescored_by_their_found_keypoints():
    kp = np.zeros((2, 17, 3), np.float32)
    kp[0, :, 2] = 0.5  # all found
    kp[1, :4, 2] = 0.5  # four found
    people = rescored(Poses(kp, [0.1, 0.9]))
    np.testing.assert_allclose(people.scores, [0.5, 0.5 * np.sqrt(4 / 17)], rtol=1e-6)


def test_the_hybrid_on_a_real_photo(hybrid_weights):
    estimate = multipose.load("mobilenet-thin+blazepose", hybrid_weights)
    people = estimate(read_image(SHARED / "data" / "photos" / "ski.jpg"))
    assert people.layout is BLAZEPOSE33 and 5 <= len(people) <= 6  # the five on the photo
    assert (people.keypoints[:, 29:31, 2] > 0).any()  # BlazePose's heels on merged people
    assert set(estimate.timing) == {"network_ms", "decode_ms"}


def test_a_second_pass_finds_people_too_large_for_the_first(hybrid_weights):
    """coco-mini-val2017 160012: a torso filling the frame, the head cut off by its top edge;
    the thin network at its own height (496) sees no one, at 200 it sees them."""
    dataset = CocoDataset(SHARED / "data" / "coco-mini-val2017" / "annotations.json")
    image = dataset.read_image(160012)
    (truth,) = [a for a in dataset.annotations(160012) if a["area"] >= 96**2]
    labelled = np.array(truth["keypoints"], np.float32).reshape(1, 17, 3)
    estimate = multipose.load("mobilenet-thin+blazepose", hybrid_weights)

    def best_oks() -> float:
        found = estimate(image).convert(COCO17)
        similar = oks(
            found.keypoints[:, :, :2],
            labelled[..., :2],
            np.array([truth["area"]]),
            COCO17.sigmas,
            labelled[..., 2] > 0,
        )
        return float(similar.max(initial=0.0))

    assert best_oks() >= 0.5
    estimate.large_height = None
    assert best_oks() < 0.5


def test_yolo_people_seed_blazepose(tmp_path):
    yolo = SHARED / "weights" / "yolo11n-pose" / "yolo11n-pose.pt"
    blazepose = SHARED / "weights" / "mediapipe-0.10.21"
    if not yolo.is_file() or not blazepose.is_dir():
        pytest.skip("../shared/weights is not beside the checkout")
    (tmp_path / yolo.name).symlink_to(yolo)
    for path in blazepose.glob("*.tflite"):
        (tmp_path / path.name).symlink_to(path)
    estimate = multipose.load("yolo11n-pose+blazepose", tmp_path)
    assert estimate.spec.licence_notice() == "yolo11n-pose's weights are AGPL-3.0"
    image = read_image(SHARED / "data" / "photos" / "ski.jpg")
    alone = multipose.load("yolo11n-pose", yolo)(image)
    people = estimate(image)
    assert people.layout is BLAZEPOSE33 and len(people) >= len(alone)
    kept = people[: len(alone)]  # YOLO's people as they are, BlazePose's heels added
    np.testing.assert_allclose(kept.keypoints[:, COCO_LANDMARKS], alone.keypoints, atol=1e-4)
    np.testing.assert_allclose(kept.scores, alone.scores, rtol=1e-6)
    assert (kept.keypoints[:, 29:31, 2] > 0).sum() >= 8  # 9 of the five skiers' 10 heels
    assert np.all(people.scores[len(alone) :] <= 0.1)  # people only BlazePose found


def _skeleton(points: dict[int, tuple[float, float]]) -> np.ndarray:
    kp = np.zeros((17, 3), np.float32)
    for index, (x, y) in points.items():
        kp[index] = (x, y, 0.8)
    return kp


def test_seeds_are_aligned_on_the_skeleton_as_mediapipe_aligns_its_own():
    upright = _skeleton({0: (100, 70), 5: (120, 100), 6: (80, 100), 11: (115, 160), 12: (85, 160)})
    upright[15] = (100, 260, 0.8)  # an ankle, 100 px below the hip centre: the farthest
    lying = upright.copy()
    lying[:, 0], lying[:, 1] = 500 - upright[:, 1], upright[:, 0]  # turned, head to the right
    few = _skeleton({0: (300, 300), 1: (310, 290), 2: (290, 290)})  # a face: its box
    rois = skeleton_rois(Poses(np.stack([upright, lying, few]), [1, 1, 1]), reach=1.1)
    side = 2 * 1.1 * ROI_SCALE * 100  # the alignment circle through the farthest keypoint
    np.testing.assert_allclose(rois[0], [100, 160, side, 0], atol=1e-6)
    np.testing.assert_allclose(rois[1], [500 - 160, 100, side, np.pi / 2], atol=1e-6)
    np.testing.assert_allclose(rois[2], box_rois(pose_boxes(Poses(few[None], [1])).boxes)[0])


def test_box_seeds_are_turned_as_the_skeleton():
    """The default's seeds: the square about each person's keypoints, turned so that their
    shoulders are above their hips in the crop (a face alone: upright)."""
    from multipose.pipelines.hybrid import HybridPipeline

    upright = _skeleton({0: (100, 70), 5: (120, 100), 6: (80, 100), 11: (115, 160), 12: (85, 160)})
    lying = upright.copy()
    lying[:, 0], lying[:, 1] = 500 - upright[:, 1], upright[:, 0]  # turned, head to the right
    few = _skeleton({0: (300, 300), 1: (310, 290), 2: (290, 290)})
    people = Poses(np.stack([upright, lying, few]), [1, 1, 1])
    hybrid = HybridPipeline.__new__(HybridPipeline)  # only its seeds
    hybrid._found = people
    rois = hybrid._seeds(np.zeros((600, 600, 3), np.uint8))
    boxes = box_rois(pose_boxes(people).boxes)
    np.testing.assert_allclose(rois[:, :3], boxes[:, :3])
    np.testing.assert_allclose(rois[:, 3], [0, np.pi / 2, 0], atol=1e-6)
