import copy

import numpy as np
import pytest

from multipose.errors import MultiposeError
from multipose.evaluate import METRICS, evaluate, format_metrics
from multipose.io.coco import CocoDataset

from conftest import DATASETS


def jittered(results, rng, sigma):
    out = copy.deepcopy(results)
    for r in out:
        kp = np.array(r["keypoints"], dtype=float).reshape(-1, 3)
        kp[:, :2] += rng.normal(0, sigma, (len(kp), 2))
        r["keypoints"] = kp.ravel().tolist()
    return out


@pytest.mark.parametrize("name", list(DATASETS))
def test_ground_truth_as_predictions_scores_one(data_dir, name):
    dataset = CocoDataset(DATASETS[name])
    metrics = evaluate(dataset, dataset.ground_truth_results())
    assert metrics["AP"] == pytest.approx(1.0) and metrics["AR"] == pytest.approx(1.0)


def test_jitter_lowers_ap_monotonically(coco_val, rng):
    dataset = CocoDataset(coco_val)
    truth = dataset.ground_truth_results()
    aps = [evaluate(dataset, jittered(truth, rng, s))["AP"] for s in (0.0, 2.0, 6.0, 15.0)]
    assert aps[0] == pytest.approx(1.0)
    assert aps[0] > aps[1] > aps[2] > aps[3]
    assert aps[3] < 0.5


def test_missing_people_lower_recall(coco_val):
    dataset = CocoDataset(coco_val)
    truth = dataset.ground_truth_results()
    half = evaluate(dataset, truth[::2])
    assert half["AR"] == pytest.approx(len(truth[::2]) / len(truth), abs=0.02)
    assert half["AP"] < 0.6


def test_false_positives_rank_below_true_people_keep_ap(coco_val):
    dataset = CocoDataset(coco_val)
    truth = dataset.ground_truth_results()
    ghost = dict(truth[0], keypoints=[5.0, 5.0, 1.0] * 17, score=0.01)
    assert evaluate(dataset, [*truth, ghost])["AP"] == pytest.approx(1.0)
    assert evaluate(dataset, [*truth, dict(ghost, score=2.0)])["AP"] < 1.0


def test_file_paths_and_empty_results(coco_val, tmp_path):
    import json

    dataset = CocoDataset(coco_val)
    path = tmp_path / "res.json"
    path.write_text(json.dumps(dataset.ground_truth_results()))
    assert evaluate(coco_val, path)["AP"] == pytest.approx(1.0)
    assert evaluate(dataset, []) == dict.fromkeys(METRICS, 0.0)
    assert format_metrics({"AP": 0.5}).splitlines() == ["    AP", " 0.500"]


def test_bad_predictions_get_clear_errors(coco_val, tmp_path):
    import json

    dataset = CocoDataset(coco_val)
    good = dataset.ground_truth_results()[0]
    cases = [
        ([dict(good, image_id=123)], "1 image id.* not in the ground truth.*123"),
        ([dict(good, keypoints=[1.0] * 54)], "result 0 has 54 keypoint values.*17 keypoints"),
        ([dict(good, category_id=3)], "category_id 3"),
    ]
    for results, message in cases:
        path = tmp_path / "pred.json"
        path.write_text(json.dumps(results))
        with pytest.raises(MultiposeError, match=message) as info:
            evaluate(dataset, path)
        assert "pred.json" in str(info.value)


def test_metrics_agree_with_pycocotools_summary(coco_val, rng):
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    dataset = CocoDataset(coco_val)
    predictions = jittered(dataset.ground_truth_results(), rng, 4.0)
    ours = evaluate(dataset, predictions)
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(coco_val))
        reference = COCOeval(gt, gt.loadRes(copy.deepcopy(predictions)), iouType="keypoints")
        reference.evaluate()
        reference.accumulate()
        reference.summarize()
    np.testing.assert_allclose(list(ours.values()), reference.stats, atol=1e-12)


def test_detection_cap_limits_recall(coco_val):
    dataset = CocoDataset(coco_val)
    truth = dataset.ground_truth_results()
    crowded = max(dataset.image_ids, key=lambda i: len(dataset.people(i)))
    assert len(dataset.people(crowded)) > 5
    capped = evaluate(dataset, truth, image_ids=[crowded], max_detections=5)
    assert capped["AR"] == pytest.approx(5 / len(dataset.people(crowded)), abs=0.01)
    assert evaluate(dataset, truth, image_ids=[crowded], max_detections=100)["AR"] == 1.0
