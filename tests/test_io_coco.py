import json

import numpy as np
import pytest

from multipose.errors import MultiposeError
from multipose.io.coco import (
    CocoDataset,
    read_coco_results,
    results_by_image,
    write_coco_results,
)
from multipose.io.media import read_image

from conftest import DATASETS


@pytest.mark.parametrize("name", list(DATASETS))
def test_every_shared_dataset_reads(data_dir, name):
    dataset = CocoDataset(DATASETS[name])
    raw = json.loads(DATASETS[name].read_text())
    assert len(dataset) == len(raw["images"])
    labelled = [a for a in raw["annotations"] if not a.get("iscrowd") and a["num_keypoints"] > 0]
    people = sum(len(dataset.people(i)) for i in dataset.image_ids)
    # CrowdPose counts only its 12 body joints in num_keypoints.
    assert people >= len(labelled)
    expected_layout = "crowdpose14" if "crowdpose" in name else "coco17"
    assert dataset.layout.name == expected_layout
    image_id = next(i for i in dataset.image_ids if len(dataset.people(i)))
    record = dataset.images[image_id]
    assert read_image(record.path).shape == (record.height, record.width, 3)


def test_manifest_counts(data_dir):
    val = CocoDataset(DATASETS["coco-mini-val2017"])
    assert len(val) == 79
    assert sum(len(val.annotations(i)) for i in val.image_ids) == 118
    assert sum(len(val.people(i)) for i in val.image_ids) == 68
    assert sum(1 for i in val.image_ids if len(val.people(i))) == 32


def test_people_match_the_annotations(data_dir):
    dataset = CocoDataset(DATASETS["mmpose-coco"])
    ann = dataset.annotations(785)[0]
    people = dataset.people(785)
    kp = np.array(ann["keypoints"], np.float32).reshape(17, 3)
    np.testing.assert_array_equal(people.keypoints[0, :, :2], kp[:, :2])
    np.testing.assert_array_equal(people.keypoints[0, :, 2], kp[:, 2] > 0)
    x, y, w, h = ann["bbox"]
    np.testing.assert_allclose(people.boxes[0], [x, y, x + w, y + h], rtol=1e-6)


def test_ignore_mask_covers_crowds_and_unlabelled_people(data_dir):
    dataset = CocoDataset(DATASETS["coco-mini-val2017"])
    crowd_image = next(
        i for i in dataset.image_ids if any(a["iscrowd"] for a in dataset.annotations(i))
    )
    crowd_only = dataset.ignore_mask(crowd_image, unlabelled=False)
    both = dataset.ignore_mask(crowd_image)
    record = dataset.images[crowd_image]
    assert crowd_only.shape == (record.height, record.width)
    crowd = next(a for a in dataset.annotations(crowd_image) if a["iscrowd"])
    counts = crowd["segmentation"]["counts"]  # uncompressed RLE: runs of 0s, 1s, 0s, ...
    assert crowd_only.sum() == sum(counts[1::2])
    column_major = crowd_only.T.ravel()
    assert not column_major[: counts[0]].any() and column_major[counts[0]]
    assert (both | crowd_only == both).all()
    unlabelled_image = next(
        i
        for i in dataset.image_ids
        if any(not a["iscrowd"] and a["num_keypoints"] == 0 for a in dataset.annotations(i))
    )
    assert dataset.ignore_mask(unlabelled_image).any()
    assert not dataset.ignore_mask(unlabelled_image, unlabelled=False).any()


def test_ignore_mask_falls_back_to_boxes_without_segmentation(data_dir):
    dataset = CocoDataset(DATASETS["mmpose-crowdpose"])
    for image_id in dataset.image_ids:
        mask = dataset.ignore_mask(image_id)
        unlabelled = [a for a in dataset.annotations(image_id) if not any(a["keypoints"][2::3])]
        assert mask.any() == bool(unlabelled)


def write(tmp_path, data, name="ann.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


def minimal(**changes):
    data = {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 10, "height": 10}],
        "annotations": [
            {
                "id": 5,
                "image_id": 1,
                "category_id": 1,
                "iscrowd": 0,
                "keypoints": [1, 2, 2] * 17,
                "bbox": [0, 0, 5, 5],
            }
        ],
        "categories": [{"id": 1, "name": "person", "keypoints": ["k"] * 17}],
    }
    data.update(changes)
    return data


def test_bad_annotation_files_are_reported(tmp_path):
    cases = [
        ("{not json", "not valid JSON"),
        ("", "file is empty"),
        ({"images": []}, "not a COCO annotation file"),
        (minimal(categories=[{"id": 1, "name": "person"}]), "no category with keypoints"),
        (minimal(categories=[{"id": 1, "keypoints": ["k"] * 13}]), "no keypoint layout"),
        (minimal(annotations=[{"id": 5, "image_id": 9, "category_id": 1}]), "unknown image 9"),
        (
            minimal(annotations=[{"id": 5, "image_id": 1, "category_id": 1, "keypoints": [1] * 6}]),
            "annotation 5: has 6 keypoint values",
        ),
        (minimal(images=[{"id": 1}]), "lacks an id, file_name, width or height"),
    ]
    for data, message in cases:
        path = write(tmp_path, data)
        with pytest.raises(MultiposeError, match=message) as info:
            CocoDataset(path)
        assert str(path) in str(info.value)
    with pytest.raises(MultiposeError, match="no such file"):
        CocoDataset(tmp_path / "absent.json")


def test_results_round_trip_and_checks(tmp_path, data_dir):
    dataset = CocoDataset(DATASETS["mmpose-coco"])
    results = dataset.ground_truth_results()
    path = tmp_path / "results.json"
    write_coco_results(path, results)
    assert read_coco_results(path) == results
    grouped = results_by_image(results)
    assert set(grouped) == {i for i in dataset.image_ids if len(dataset.people(i))}
    for image_id, poses in grouped.items():
        np.testing.assert_allclose(poses.keypoints, dataset.people(image_id).keypoints)
    for data, message in [
        ({"a": 1}, "expected a list"),
        ([{"image_id": 1, "keypoints": [1, 2]}], "result 0: has no 'score'"),
        ([{"image_id": 1, "keypoints": [1, 2], "score": 1}], "not a list of x, y, score"),
        (["x"], "result 0: is not an object"),
    ]:
        with pytest.raises(MultiposeError, match=message):
            read_coco_results(write(tmp_path, data, "bad.json"))


def test_inconsistent_real_file_is_rejected_clearly(data_dir):
    # mmpose's partition-metric file has 133 whole-body values per person under a 17-keypoint
    # category.
    path = data_dir / "mmpose-tests" / "coco" / "test_keypoint_partition_metric.json"
    with pytest.raises(MultiposeError, match="has 399 keypoint values.*51 are expected"):
        CocoDataset(path)
