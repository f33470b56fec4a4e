"""BlazePose: its decoding (anchors, detections, ROIs, landmarks) and the multi-person pipeline
on real photos with the real TFLite weights."""

import numpy as np
import pytest
import torch

import multipose
from multipose.blazepose import BlazePoseEstimator, oks
from multipose.codecs.blazepose import (
    decode_detections,
    decode_landmarks,
    roi_transforms,
    rois_from_alignment,
    ssd_anchors,
)
from multipose.errors import MultiposeError
from multipose.io.coco import CocoDataset
from multipose.io.media import read_image
from multipose.models.specs import get_spec
from multipose.poses import Poses
from multipose.topdown import apply

from conftest import SHARED

WEIGHTS = SHARED / "weights" / "mediapipe-0.10.21"


@pytest.fixture(scope="module")
def networks():
    if not WEIGHTS.is_dir():
        pytest.skip("../shared/weights is not beside the checkout")
    return get_spec("blazepose-full").load(WEIGHTS)


def test_anchors_match_the_detectors_outputs():
    pose = ssd_anchors(224, (8, 16, 32, 32, 32))
    assert pose.shape == (2254, 2)  # 28*28*2 + 14*14*2 + 7*7*6
    assert np.allclose(pose[0], [0.5 / 28, 0.5 / 28]) and np.allclose(pose[1], pose[0])
    assert np.allclose(pose[2], [1.5 / 28, 0.5 / 28])  # x varies fastest
    assert np.allclose(pose[-1], [6.5 / 7, 6.5 / 7]) and np.allclose(pose[-6], pose[-1])
    assert ssd_anchors(192, (4,), per_layer=1).shape == (2304, 2)


def test_detections_are_merged_by_weighted_suppression():
    anchors = np.array([[0.5, 0.5], [0.5, 0.5], [0.1, 0.1]])
    raw = np.zeros((3, 8))
    raw[:, 2:4] = 44.8  # box side 0.2
    raw[0, 4:6], raw[1, 4:6] = [22.4, 0.0], [0.0, 22.4]  # keypoint 0.1 right / 0.1 below
    logits = np.array([3.0, 3.0, -3.0])  # the third scores 0.05: dropped
    boxes, points, scores = decode_detections(raw, logits, anchors, 224, min_score=0.5)
    assert len(boxes) == 1 and scores[0] == pytest.approx(1 / (1 + np.exp(-3)))
    assert np.allclose(boxes[0], [0.4, 0.4, 0.6, 0.6])
    assert np.allclose(points[0, 0], [0.55, 0.55])  # the two keypoints averaged, equal weights
    assert np.allclose(points[0, 1], [0.5, 0.5])


@pytest.mark.parametrize("angle", [0.0, 90.0, -30.0, 180.0])
def test_a_roi_turns_the_person_upright(angle):
    centre = np.array([[300.0, 200.0]])
    turn = np.deg2rad(angle)  # clockwise on screen
    up = np.array([[np.sin(turn), -np.cos(turn)]]) * 80  # where the head is
    roi = rois_from_alignment(centre, centre + up)
    assert roi[0, 2] == pytest.approx(2 * 80 * 1.25)
    assert np.cos(roi[0, 3] - turn) == pytest.approx(1.0)
    crop = apply(roi_transforms(roi, 256), np.stack([centre, centre + up], axis=1))[0]
    assert np.allclose(crop[0], [127.5, 127.5])  # the hip centre in the middle
    assert np.allclose(crop[1], [127.5, 127.5 - 80 * 256 / 200])  # the head straight above


def test_landmarks_refined_where_the_heatmap_is_confident():
    raw = np.zeros((1, 2, 5))
    raw[0, :, :2] = [[100.0, 60.0], [30.0, 30.0]]
    heatmaps = np.full((1, 2, 64, 64), -10.0)
    heatmaps[0, 0, 16, 26] = 10.0  # landmark 0's peak: one cell right of where it points
    heatmaps[0, 1, 7, 9] = -1.0  # landmark 1's heatmap is not confident
    landmarks = decode_landmarks(raw.reshape(1, -1), heatmaps)
    assert np.allclose(landmarks[0, 0, :2], [(26 + 0.5) * 4 - 0.5, (16 + 0.5) * 4 - 0.5], atol=0.1)
    assert np.allclose(landmarks[0, 1, :2], [29.5, 29.5])  # unchanged, in pixel centres
    assert np.allclose(landmarks[0, :, 2:], 0.5)  # logits 0 -> probability 0.5


def test_finds_the_people_of_a_real_photo(networks):
    image = read_image(SHARED / "data" / "photos" / "ski.jpg")
    spec = get_spec("blazepose-full")
    everything = BlazePoseEstimator(spec, networks)(image)
    detector_only = BlazePoseEstimator(spec, networks, steps=())(image)
    assert len(detector_only) == 1  # the detector alone finds the main subject
    assert 5 <= len(everything) <= 6  # the skater, two seated, two standing
    assert everything.layout.name == "blazepose33"
    assert oks(everything, detector_only).max() > 0.8  # the same skater among them


def test_pose_matches_the_coco_annotation(networks, coco_val):
    dataset = CocoDataset(coco_val)
    image_id = 406129  # one large person
    people = multipose.load("blazepose-full", WEIGHTS)(dataset.read_image(image_id))
    truth = dataset.people(image_id)
    found = people.convert("coco17")
    labelled = truth.keypoints[0, :, 2] > 0
    error = np.linalg.norm(found.keypoints[0, :, :2] - truth.keypoints[0, :, :2], axis=1)
    height = truth.keypoint_boxes()[0, 3] - truth.keypoint_boxes()[0, 1]
    assert len(people) == 1 and np.median(error[labelled]) < 0.05 * height


def test_landmark_network_exports_to_onnx(networks, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    from multipose.models.export import export_onnx

    spec = get_spec("blazepose-full")
    path = export_onnx(spec, networks, tmp_path / "blazepose.onnx", (256, 256))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = torch.rand(2, 3, 256, 256)
    with torch.inference_mode():
        expected = [t.numpy() for t in networks(x)[-1]]
    names = [o.name for o in session.get_outputs()]
    assert names == list(spec.outputs)
    for ours, theirs in zip(session.run(None, {"image": x.numpy()}), expected, strict=True):
        assert np.abs(ours - theirs).max() <= 1e-3 * max(1.0, np.abs(theirs).max())


def test_clear_errors(tmp_path, networks):
    with pytest.raises(MultiposeError, match="multipose weights fetch blazepose"):
        multipose.load("blazepose-full", tmp_path)
    with pytest.raises(MultiposeError, match="torch backend"):
        multipose.load("blazepose-full", WEIGHTS, backend="onnxruntime")
    with pytest.raises(MultiposeError, match="TFLite files"):
        get_spec("blazepose-full").build()
    with pytest.raises(MultiposeError, match="unknown BlazePose steps"):
        BlazePoseEstimator(get_spec("blazepose-full"), networks, steps=("tiles", "magic"))
    assert len(BlazePoseEstimator(None, networks)(np.zeros((50, 80, 3), np.uint8))) == 0
    assert isinstance(Poses.empty("blazepose33"), Poses)
