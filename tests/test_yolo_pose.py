"""YOLO11-pose read and run by our own code: preprocessing, raw head output and final people
against Ultralytics' own (reference_ultralytics_outputs.npz), the decoding on made-up rows,
other sizes from their architecture dicts, and the ONNX backend."""

import copy

import numpy as np
import pytest
import torch

import multipose
from multipose.codecs.yolo_pose import YoloPoseCodec
from multipose.errors import MultiposeError
from multipose.io.media import read_image
from multipose.models.yolo_pose import YoloPose, fold_batch_norms, load_yolo_pose
from multipose.pipelines.yolo_pose import letterbox
from multipose.runtime.torch_pickle import read_checkpoint

from conftest import SHARED

FOLDER = SHARED / "weights" / "yolo11n-pose"
CHECKPOINT = FOLDER / "yolo11n-pose.pt"
PHOTOS = ("ski", "bus", "zidane")


@pytest.fixture(scope="module")
def reference():
    if not CHECKPOINT.is_file():
        pytest.skip("../shared/weights/yolo11n-pose is not beside the checkout")
    return np.load(FOLDER / "reference_ultralytics_outputs.npz")


@pytest.fixture(scope="module")
def network(reference):
    return load_yolo_pose(CHECKPOINT)


@pytest.mark.parametrize("name", PHOTOS)
def test_letterbox_is_ultralytics_input(reference, name):
    tensor, _, _ = letterbox(read_image(SHARED / "data" / "photos" / f"{name}.jpg"), 640, 640)
    np.testing.assert_array_equal(tensor[0].numpy(), reference[f"{name}_input_rgb01"])


@pytest.mark.parametrize("name", PHOTOS)
def test_raw_output_is_ultralytics_within_1e3_of_its_scale(reference, network, name):
    with torch.no_grad():
        (out,) = network(torch.from_numpy(reference[f"{name}_input_rgb01"])[None])[-1]
    expected = reference[f"{name}_raw"]
    assert out.shape == (1, 56, 8400)
    scale = np.abs(expected).max(axis=1, keepdims=True)  # per value: pixels, scores
    assert (np.abs(out[0].numpy() - expected) / scale).max() < 1e-3


@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
def test_people_are_ultralytics_people(reference, backend):
    pipeline = multipose.load("yolo11n-pose", weights=CHECKPOINT, backend=backend)
    pipeline.codec = YoloPoseCodec(min_score=0.25)  # as the reference's predictor
    for name in PHOTOS:
        people = pipeline(read_image(SHARED / "data" / "photos" / f"{name}.jpg"))
        order = np.argsort(-people.scores)
        assert len(people) == len(reference[f"{name}_scores"]), name
        keypoints = people.keypoints[order]
        expected = reference[f"{name}_keypoints"]
        assert np.abs(keypoints[..., :2] - expected[..., :2]).max() < 1.0, name
        assert np.abs(keypoints[..., 2] - expected[..., 2]).max() < 1e-3, name
        assert np.abs(people.boxes[order] - reference[f"{name}_boxes_xyxy"]).max() < 1.0, name
        np.testing.assert_allclose(people.scores[order], reference[f"{name}_scores"], atol=1e-3)


def _row(box, score, keypoint_xy):
    """One anchor's values: box (cx, cy, w, h), person score, 17 keypoints at one point."""
    keypoints = np.tile([*keypoint_xy, 0.9], 17)
    return np.array([*box, score, *keypoints], np.float32)


def test_decoding_thresholds_and_suppresses_overlaps():
    rows = np.stack(
        [
            _row((100, 100, 50, 100), 0.9, (100, 90)),
            _row((102, 101, 50, 100), 0.8, (0, 0)),  # the same person, worse
            _row((300, 100, 50, 100), 0.6, (300, 80)),
            _row((500, 100, 50, 100), 0.2, (500, 80)),  # below the threshold
        ],
        axis=1,
    )
    people = YoloPoseCodec(min_score=0.25).decode([rows])
    np.testing.assert_allclose(people.scores, [0.9, 0.6])
    np.testing.assert_allclose(people.boxes[0], [75, 50, 125, 150])
    np.testing.assert_allclose(people.keypoints[1, :, :2], np.tile([300, 80], (17, 1)))
    assert len(YoloPoseCodec(min_score=0.1).decode([rows])) == 3


# Ultralytics' published parameter counts of YOLO11-pose, in millions (docs.ultralytics.com).
PUBLISHED_MILLIONS = {"n": 2.9, "s": 9.9, "m": 20.9, "l": 26.2, "x": 58.8}


@pytest.mark.parametrize("scale", list(PUBLISHED_MILLIONS))
def test_every_size_builds_from_the_architecture_dict(reference, scale):
    architecture = read_checkpoint(CHECKPOINT)["model"].get("yaml")
    network = YoloPose(copy.deepcopy(architecture) | {"scale": scale}, nc=1)
    millions = sum(p.numel() for p in network.parameters()) / 1e6
    assert round(millions, 1) == PUBLISHED_MILLIONS[scale]
    if scale == "s":
        with torch.no_grad():
            (out,) = fold_batch_norms(network.eval())(torch.rand(1, 3, 64, 96))[-1]
        assert out.shape == (1, 56, 8 * 12 + 4 * 6 + 2 * 3)


def test_an_input_of_other_sides_is_one_error(network):
    with pytest.raises(MultiposeError, match="multiples of 32, not 432x368"):
        network(torch.zeros(1, 3, 368, 432))


def test_an_unknown_layer_is_named(reference):
    architecture = copy.deepcopy(read_checkpoint(CHECKPOINT)["model"].get("yaml"))
    architecture["head"][0][2] = "Mystery"
    with pytest.raises(MultiposeError, match="layer 11 is a Mystery"):
        YoloPose(architecture)
