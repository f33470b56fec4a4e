"""BlazePose: its decoding (anchors, detections, ROIs, landmarks) and the multi-person pipeline
on real photos with the real TFLite weights."""

import json
import sys

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner

import multipose
from multipose.cli import main
from multipose.codecs.blazepose import (
    FACE_DETECTOR,
    LANDMARK_INPUT,
    POSE_DETECTOR,
    decode_detections,
    decode_landmarks,
    heatmap_peaks,
    roi_transforms,
    rois_from_alignment,
    ssd_anchors,
)
from multipose.errors import MultiposeError
from multipose.geometry import apply, pose_boxes
from multipose.io.coco import CocoDataset
from multipose.io.media import read_image
from multipose.pipelines.blazepose import BlazePosePipeline, Settings, oks
from multipose.pipelines.blazepose_regions import box_rois
from multipose.poses import Poses
from multipose.specs import get_spec

from conftest import SHARED

WEIGHTS = SHARED / "weights" / "mediapipe-0.10.21"
SKI = SHARED / "data" / "photos" / "ski.jpg"  # five people
# Everything but masked re-detection, whose masks' edges (and so what it finds) follow float
# noise: torch's own NCHW and channels-last runs differ there too.
STEADY_STEPS = ("detect", "tiles", "faces", "refine")


@pytest.fixture(scope="module")
def networks():
    if not WEIGHTS.is_dir():
        pytest.skip("../shared/weights is not beside the checkout")
    return get_spec("blazepose-full").load(WEIGHTS)


@pytest.fixture(scope="module")
def in_onnxruntime(networks):
    """An estimator whose three networks run as ONNX exports in onnxruntime."""
    pytest.importorskip("onnxruntime")
    spec = get_spec("blazepose-full")
    return BlazePosePipeline(spec, networks, steps=STEADY_STEPS, backend="onnxruntime")


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


def test_heatmap_peaks_near_each_landmark():
    heatmaps = np.full((1, 3, 64, 64), -10.0)
    heatmaps[0, 0, 16, 26] = 3.0  # next to landmark 0's cell (15, 25): counts
    heatmaps[0, 1, 40, 40] = 3.0  # far from landmark 1: does not count
    heatmaps[0, 2, 0, 63] = 0.0  # landmark 2 lies outside the crop: its nearest border cell
    xy = np.array([[[25.5 * 4 - 0.5, 15.5 * 4 - 0.5], [40.0, 40.0], [300.0, -20.0]]])
    peaks = heatmap_peaks(xy, heatmaps)
    assert np.allclose(peaks, [[1 / (1 + np.exp(-3)), 1 / (1 + np.exp(10)), 0.5]])


def test_finds_the_people_of_a_real_photo(networks):
    image = read_image(SKI)
    spec = get_spec("blazepose-full")
    everything = BlazePosePipeline(spec, networks)(image)
    detector_only = BlazePosePipeline(spec, networks, steps=("detect",))(image)
    assert len(detector_only) == 1  # the detector alone finds the main subject
    assert len(everything) == 5  # the skater, two seated, two standing
    unfiltered = BlazePosePipeline(spec, networks, settings=Settings(min_score=0))(image)
    # any more (a false one, found at some thread counts before crops were sampled exactly)
    # score under 0.3
    assert len(unfiltered) >= 5 and np.all(unfiltered.scores[5:] < 0.3)
    assert everything.layout.name == "blazepose33"
    assert oks(everything, detector_only).max() > 0.8  # the same skater among them


def test_rois_given_seed_the_people(networks):
    image = read_image(SKI)
    spec = get_spec("blazepose-full")
    found = BlazePosePipeline(spec, networks)(image)
    assert not len(BlazePosePipeline(spec, networks, steps=())(image))  # no seeds, nobody

    def rois(image: np.ndarray, image_id: int | None) -> np.ndarray:
        return box_rois(pose_boxes(found).boxes)

    seeded = BlazePosePipeline(spec, networks, steps=(), rois=rois)(image)
    assert len(seeded) == len(found)  # the five, from the ROIs around them alone
    assert np.all(oks(found, seeded).max(axis=1) > 0.6)  # the same (other crops: 0.70-0.99)


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
    from multipose.runtime.onnx import export_onnx

    spec = get_spec("blazepose-full")
    path = export_onnx(spec, networks, tmp_path / "blazepose.onnx", (256, 256))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    # A real photo (noise drives the segmentation logits to +-1500, where float order decides).
    photo = cv2.resize(read_image(SKI), (256, 256)).astype(np.float32) / 255
    x = torch.from_numpy(np.stack([photo, photo[:, ::-1]]).transpose(0, 3, 1, 2).copy())
    with torch.inference_mode():
        expected = [t.numpy() for t in networks(x)[-1]]
    names = [o.name for o in session.get_outputs()]
    assert names == list(spec.outputs)
    for ours, theirs in zip(session.run(None, {"image": x.numpy()}), expected, strict=True):
        assert np.abs(ours - theirs).max() <= 1e-3 * max(1.0, np.abs(theirs).max())


@pytest.mark.parametrize(
    ("name", "size"),
    [
        ("detector", POSE_DETECTOR["input"]),
        ("faces", FACE_DETECTOR["input"]),
        ("landmarks", LANDMARK_INPUT),
    ],
)
def test_each_network_runs_alike_in_onnxruntime(networks, in_onnxruntime, name, size):
    image = read_image(SKI)
    half = image[: image.shape[0] // 2, : image.shape[1] // 2]
    crops = np.stack([cv2.resize(im, (size, size)) for im in (image, half, image[:, ::-1])])
    x = torch.from_numpy(crops).permute(0, 3, 1, 2).float() / 255
    with torch.inference_mode():
        expected = getattr(networks, name)(x)
    found = [torch.from_numpy(o) for o in in_onnxruntime.networks[name](x)]
    assert len(found) == len(expected)
    for ours, theirs in zip(found, expected, strict=True):
        assert ours.shape == theirs.shape
        assert (ours - theirs).abs().max() <= 1e-3 * max(1.0, theirs.abs().max())


def test_onnxruntime_backend_finds_the_same_people(networks, in_onnxruntime):
    image = read_image(SKI)
    in_torch = BlazePosePipeline(
        get_spec("blazepose-full"), networks, steps=STEADY_STEPS, backend="torch"
    )
    expected, found = in_torch(image), in_onnxruntime(image)
    assert len(found) == len(expected) == 5
    np.testing.assert_allclose(found.keypoints[..., :2], expected.keypoints[..., :2], atol=1.0)
    np.testing.assert_allclose(found.keypoints[..., 2], expected.keypoints[..., 2], atol=1e-2)
    np.testing.assert_allclose(found.scores, expected.scores, atol=2e-3)
    assert in_onnxruntime.timing["network_ms"] > 0


def test_estimate_command_on_onnxruntime(networks, tmp_path):
    pytest.importorskip("onnxruntime")
    args = ["estimate", str(SKI), "--model", "blazepose-full", "--weights", str(WEIGHTS)]
    args += ["--backend", "onnxruntime"]
    result = CliRunner().invoke(main, [*args, "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    people = json.loads((tmp_path / "ski_keypoints.json").read_text())["people"]
    assert 5 <= len(people) <= 6  # as in PyTorch, all steps


class _Normalised(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv, self.norm = torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        y = self.norm(self.conv(x))
        return y, y.mean(dim=(2, 3))


def test_onnx_module_runs_like_the_module_in_eval_mode():
    pytest.importorskip("onnxruntime")
    from multipose.runtime.onnx import OnnxModule

    torch.manual_seed(0)
    module = _Normalised()
    module.norm.running_mean.uniform_(-1, 1)
    stats = module.norm.running_mean.clone()
    exported = OnnxModule(module, (1, 3, 16, 20), free=(0, 2, 3))
    assert not module.training and torch.equal(module.norm.running_mean, stats)
    x = torch.rand(3, 3, 12, 9)  # another batch size and image size
    with torch.inference_mode():
        expected = module(x)
    for ours, theirs in zip(exported(x), expected, strict=True):
        assert ours.shape == theirs.shape and torch.allclose(ours, theirs, atol=1e-5)


def test_clear_errors(tmp_path, networks, monkeypatch):
    spec = get_spec("blazepose-full")
    with pytest.raises(MultiposeError, match="multipose weights fetch blazepose"):
        multipose.load("blazepose-full", tmp_path)
    with pytest.raises(MultiposeError, match="one scale, without the flip test"):
        multipose.load("blazepose-full", WEIGHTS, flip=True)
    with pytest.raises(MultiposeError, match="one scale"):
        multipose.load("blazepose-full", WEIGHTS, scales=(1.0, 1.5))
    with pytest.raises(
        MultiposeError, match="backend must be one of auto, torch, onnxruntime, openvino"
    ):
        BlazePosePipeline(spec, networks, backend="tensorflow")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if not installed
    with pytest.raises(MultiposeError, match="pip install onnxruntime onnx"):
        BlazePosePipeline(spec, networks, backend="onnxruntime")
    with pytest.raises(MultiposeError, match="TFLite files"):
        get_spec("blazepose-full").build()
    with pytest.raises(MultiposeError, match="unknown BlazePose steps"):
        BlazePosePipeline(get_spec("blazepose-full"), networks, steps=("tiles", "magic"))
    assert len(BlazePosePipeline(spec, networks)(np.zeros((50, 80, 3), np.uint8))) == 0
    assert isinstance(Poses.empty("blazepose33"), Poses)
