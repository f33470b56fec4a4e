import numpy as np
import pytest

from multipose.box_sources import DetectionFile, GroundTruthBoxes, HogDetector, PoseBoxes
from multipose.codecs.heatmap import HeatmapCodec
from multipose.errors import MultiposeError
from multipose.geometry import (
    Boxes,
    apply,
    box_regions,
    check_boxes,
    crop_transforms,
    invert,
    nms,
    pose_boxes,
    warp_crops,
)
from multipose.io.coco import CocoDataset
from multipose.io.media import read_image
from multipose.oracle import Noise, run_oracle
from multipose.pipelines.top_down import people_from_crops
from multipose.poses import Poses
from multipose.similarity import iou

from conftest import DATASETS


def test_regions_take_the_crop_aspect_and_padding():
    centres, sizes = box_regions(np.array([[10, 20, 50, 220], [0, 0, 300, 100]]), 0.75)
    np.testing.assert_allclose(centres, [[30, 120], [150, 50]])
    np.testing.assert_allclose(sizes, [[150 * 1.25, 200 * 1.25], [300 * 1.25, 400 * 1.25]])


def test_crop_transform_maps_the_region_onto_the_crop():
    centres, sizes = box_regions(np.array([[100, 50, 196, 178]]), 0.75, padding=1.0)
    t = crop_transforms(centres, sizes, (192, 256))
    corners = np.array([[[100, 50], [196, 178], [148, 114]]], np.float64)
    np.testing.assert_allclose(apply(t, corners), [[[-0.5, -0.5], [191.5, 255.5], [95.5, 127.5]]])


def test_inverse_round_trip_is_exact_with_rotation(rng):
    boxes = rng.uniform(0, 400, (8, 2))
    boxes = np.concatenate([boxes, boxes + rng.uniform(20, 200, (8, 2))], axis=1)
    t = crop_transforms(*box_regions(boxes, 0.75), (192, 256), rotation=rng.uniform(-40, 40, 8))
    points = rng.uniform(0, 500, (8, 17, 2))
    np.testing.assert_allclose(apply(invert(t), apply(t, points)), points, atol=1e-9)
    assert np.abs(apply(invert(t), apply(t, points)) - points).max() < 0.01


@pytest.mark.parametrize("rotation", [0.0, 30.0, -75.0])
def test_crops_show_the_content_where_the_transform_puts_it(rotation):
    image = np.zeros((300, 400, 3), np.uint8)
    image[118:123, 248:253] = 255  # a bright dot centred on (250, 120)
    t = crop_transforms(
        *box_regions(np.array([[200, 60, 320, 260]]), 0.75),
        (192, 256),
        rotation=np.array([rotation]),
    )
    crop = warp_crops(image, t, (192, 256))[0]
    assert crop.shape == (256, 192, 3)
    expected = apply(t, np.array([[[250.0, 120.0]]]))[0, 0]
    ys, xs = np.nonzero(crop[..., 0] > 100)
    found = np.array([xs.mean(), ys.mean()])
    assert np.linalg.norm(found - expected) < 0.6


def test_small_images_and_boxes_past_the_edges_still_crop():
    image = np.full((40, 30, 3), 200, np.uint8)
    t = crop_transforms(*box_regions(np.array([[-20, -20, 50, 60]]), 0.75), (192, 256))
    crop = warp_crops(image, t, (192, 256))[0]
    assert crop.shape == (256, 192, 3) and crop.max() == 200 and crop.min() == 0


def test_box_problems_are_named():
    boxes = np.array(
        [
            [10, 10, 50, 90],
            [np.nan, 0, 5, 5],
            [30, 30, 10, 50],
            [500, 10, 600, 50],
            [-50, -50, 0.5, 10],
            [-10, 20, 40, 900],
        ]
    )
    clipped, problems = check_boxes(boxes, (200, 100))
    assert problems == [
        None,
        "box is not finite",
        "box has zero or negative size",
        "box lies outside the image",
        "box is under 2 px once clipped to the image",
        None,
    ]
    np.testing.assert_allclose(clipped[5], [0, 20, 40, 100])


def test_keypoints_outside_their_box_are_not_found():
    codec = HeatmapCodec()
    kp = np.zeros((1, 17, 3), np.float32)
    kp[0, :, :2], kp[0, :, 2] = [900, 900], 1  # the person lies far outside its box
    t = crop_transforms(*box_regions(np.array([[10, 10, 60, 100]]), 0.75), (192, 256))
    crop_kp = kp.copy()
    crop_kp[..., :2] = apply(t, kp[..., :2])
    heatmaps, weights = codec.encode_keypoints(crop_kp)
    assert not weights.any()
    poses = people_from_crops(codec, [heatmaps], t)
    assert len(poses) == 1 and not poses.keypoints.any() and poses.scores[0] == 0


def test_iou_and_nms():
    boxes = Boxes(
        np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 10]]),
        [0.9, 0.8, 0.7, 0.95],
    )
    assert iou(boxes.boxes[:1], boxes.boxes[1:2])[0, 0] == pytest.approx(81 / 119)
    kept = nms(boxes, 0.5)
    assert kept.scores.tolist() == pytest.approx([0.95, 0.7])


def test_detection_file_threshold_and_nms(data_dir, tmp_path):
    path = data_dir / "mmpose-tests" / "coco" / "test_coco_det_AP_H_56.json"
    source = DetectionFile(path)
    image = np.zeros((10, 10, 3), np.uint8)
    everything = source(image, 785)
    assert len(everything) > 0 and (everything.boxes[:, 2:] > everything.boxes[:, :2]).all()
    confident = DetectionFile(path, score_threshold=0.5)(image, 785)
    assert len(confident) < len(everything) and (confident.scores >= 0.5).all()
    thinned = DetectionFile(path, nms_iou=0.3)(image, 785)
    assert len(thinned) <= len(everything)
    overlaps = iou(thinned.boxes, thinned.boxes) - np.eye(len(thinned))
    assert overlaps.max() <= 0.3
    assert len(source(image, 123456)) == 0
    with pytest.raises(MultiposeError, match="need the image's id"):
        source(image)
    bad = tmp_path / "dets.json"
    bad.write_text('[{"image_id": 1, "bbox": [1, 2, 3], "score": 1}]')
    with pytest.raises(MultiposeError, match="detection 0: .bbox. has 3 values, not 4"):
        DetectionFile(bad)


def test_ground_truth_and_pose_boxes(data_dir):
    dataset = CocoDataset(DATASETS["mmpose-coco"])
    boxes = GroundTruthBoxes(dataset)(np.zeros((1, 1, 3), np.uint8), 785)
    assert len(boxes) == len(dataset.people(785))
    people = dataset.people(785)
    padded = pose_boxes(people, padding=1.2)
    tight = people.keypoint_boxes()
    assert (padded.boxes[:, :2] <= tight[:, :2]).all() and (
        padded.boxes[:, 2:] >= tight[:, 2:]
    ).all()
    area = lambda b: np.prod(b[:, 2:] - b[:, :2], axis=1)  # noqa: E731
    np.testing.assert_allclose(area(padded.boxes), area(tight) * 1.44, rtol=1e-4)
    from_estimator = PoseBoxes(lambda image: people, padding=1.2)(np.zeros((1, 1, 3), np.uint8))
    np.testing.assert_allclose(from_estimator.boxes, padded.boxes)


def test_hog_finds_people_in_a_real_photo(data_dir):
    image = read_image(data_dir / "photos" / "ski.jpg")
    found = HogDetector()(image)
    assert len(found) >= 1
    w, h = found.boxes[:, 2] - found.boxes[:, 0], found.boxes[:, 3] - found.boxes[:, 1]
    assert (h > w).all()  # upright people
    assert (found.boxes[:, :2] >= -1).all() and (found.boxes[:, 2] <= image.shape[1] + 1).all()


def test_topdown_oracle_on_real_annotations(data_dir):
    dataset = CocoDataset(DATASETS["coco-mini-val2017"])
    metrics, _ = run_oracle(dataset, "simplebaseline-r50")
    assert metrics["AP"] >= 0.99
    noisy, _ = run_oracle(
        dataset, "simplebaseline-r50", Noise(jitter=1.0, peak_min=0.6, heatmap=0.05)
    )
    assert noisy["AP"] < metrics["AP"]


def test_people_from_heatmaps_scores_with_box_scores(rng):
    codec = HeatmapCodec()
    boxes = np.array([[10, 10, 110, 210], [200, 50, 260, 150]], np.float64)
    t = crop_transforms(*box_regions(boxes, 0.75), codec.input_size)
    kp = np.zeros((2, 17, 3), np.float32)
    kp[..., 0] = rng.uniform(5, 55, (2, 17)) + boxes[:, :1]
    kp[..., 1] = rng.uniform(5, 95, (2, 17)) + boxes[:, 1:2]
    kp[..., 2] = 1
    crop_kp = kp.copy()
    crop_kp[..., :2] = apply(t, kp[..., :2])
    poses = people_from_crops(
        codec, [codec.encode_keypoints(crop_kp)[0]], t, box_scores=np.array([1.0, 0.5])
    )
    assert isinstance(poses, Poses)
    np.testing.assert_allclose(poses.keypoints[..., :2], kp[..., :2], atol=0.05)
    assert poses.scores[1] == pytest.approx(0.5 * poses.scores[0], rel=0.05)


def test_oracle_command_for_topdown(coco_val):
    from click.testing import CliRunner

    from multipose.cli import main

    result = CliRunner().invoke(main, ["oracle", "--method", "topdown", str(coco_val)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1].split()[0] == "1.000"
