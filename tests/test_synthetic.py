import itertools
import json

import numpy as np
import pytest

from multipose.data.synthetic import make_dataset, make_scene
from multipose.evaluate import evaluate
from multipose.io.coco import CocoDataset


def iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_reproducible_by_seed():
    a, b, c = make_scene(20, seed=5), make_scene(20, seed=5), make_scene(20, seed=6)
    np.testing.assert_array_equal(a.keypoints, b.keypoints)
    assert not np.array_equal(a.keypoints, c.keypoints)


@pytest.mark.parametrize("n", [1, 5, 20, 50, 100])
def test_crowds_fit_the_image_within_the_overlap_bound(n):
    scene = make_scene(n, 512, 512, seed=n, max_iou=0.3)
    assert len(scene) == n
    assert (scene.boxes[:, :2] >= 0).all() and (scene.boxes[:, 2:] <= 512).all()
    labelled = scene.keypoints[..., 2] > 0
    xy = scene.keypoints[..., :2][labelled]
    assert (xy >= 0).all() and (xy <= 511).all()
    for i, j in itertools.combinations(range(n), 2):
        assert iou(scene.boxes[i], scene.boxes[j]) <= 0.3 + 1e-6
    assert labelled.mean() > 0.6


def test_bodies_are_plausible():
    scene = make_scene(200, 2000, 2000, seed=1, max_iou=0.2)
    p = scene.points
    height = scene.boxes[:, 3] - scene.boxes[:, 1]
    assert np.median(p[:, 0, 1] < p[:, 5:7, 1].min(1)) == 1  # nose above the shoulders
    assert np.mean(p[:, 15:17, 1].max(1) > p[:, 11:13, 1].max(1)) > 0.95  # ankles below hips
    upper_arm = np.linalg.norm(p[:, 5] - p[:, 7], axis=1) / height
    assert 0.05 < np.median(upper_arm) < 0.3
    shin = np.linalg.norm(p[:, 13] - p[:, 15], axis=1) / height
    assert 0.1 < np.median(shin) < 0.35
    # Varied: wrists wander widely relative to the shoulders, in both directions.
    reach = (p[:, 9, 1] - p[:, 5, 1]) / height
    assert reach.min() < -0.1 and reach.max() > 0.2
    heights = scene.boxes[:, 3] - scene.boxes[:, 1]
    assert heights.std() / heights.mean() > 0.1


def test_visibility_flags():
    scene = make_scene(50, seed=3, p_occluded=0.0, p_missing=0.0)
    flags = scene.keypoints[..., 2]
    assert set(np.unique(flags)) <= {0.0, 1.0, 2.0}
    assert (scene.keypoints[flags == 0, :2] == 0).all()
    missing = make_scene(50, seed=3, p_occluded=0.0, p_missing=0.5).keypoints[..., 2]
    assert 0.45 < (missing == 0).mean() < 0.65
    occluded = make_scene(50, seed=3, p_occluded=0.5, p_missing=0.0).keypoints[..., 2]
    assert 0.45 < (occluded == 1).mean() < 0.75


def test_dataset_is_valid_coco_and_evaluates_perfectly(tmp_path):
    data, scenes = make_dataset(6, (2, 8), 320, 240, seed=2)
    path = tmp_path / "annotations.json"
    path.write_text(json.dumps(data))
    dataset = CocoDataset(path)
    assert len(dataset) == 6
    assert [len(dataset.people(i)) for i in dataset.image_ids] == [len(s) for s in scenes]
    assert all(2 <= len(s) <= 8 for s in scenes)
    assert evaluate(dataset, dataset.ground_truth_results())["AP"] == pytest.approx(1.0)


def test_render_draws_people_on_a_background():
    scene = make_scene(3, 200, 160, seed=0)
    image = scene.render()
    assert image.shape == (160, 200, 3) and image.dtype == np.uint8
    front = scene.depth_order[-1]
    x, y = scene.points[front, [5, 6, 11, 12]].mean(axis=0).round().astype(int)
    assert np.abs(image[y, x].astype(int) - scene.colors[front]).sum() < 10  # torso painted
    assert np.array_equal(image, scene.render())
