import json

import numpy as np
import pytest

from multipose.errors import MultiposeError
from multipose.io.coco import CocoDataset
from multipose.io.openpose_json import openpose_json_path, read_openpose_json, write_openpose_json
from multipose.poses import Poses

from conftest import DATASETS


def test_file_name_follows_openpose(tmp_path):
    assert openpose_json_path(tmp_path, "/x/y/ski.jpg") == tmp_path / "ski_keypoints.json"


@pytest.mark.parametrize("layout", ["coco18", "body25"])
def test_real_people_written_and_read_back_equal(data_dir, tmp_path, layout):
    dataset = CocoDataset(DATASETS["coco-mini-val2017"])
    image_id = max(dataset.image_ids, key=lambda i: len(dataset.people(i)))
    people = dataset.people(image_id).convert(layout)
    path = openpose_json_path(tmp_path, dataset.images[image_id].file_name)
    write_openpose_json(path, people, layout)
    doc = json.loads(path.read_text())
    assert doc["version"] == 1.3
    k = 18 if layout == "coco18" else 25
    assert {len(p["pose_keypoints_2d"]) for p in doc["people"]} == {3 * k}
    back = read_openpose_json(path)
    assert back.layout.name == layout
    np.testing.assert_array_equal(back.keypoints, people.keypoints)
    np.testing.assert_array_equal(back.scores, people.scores)
    # And back to the COCO-17 ground truth, keypoint for keypoint.
    np.testing.assert_array_equal(
        back.convert("coco17").keypoints, dataset.people(image_id).keypoints
    )


def test_neck_is_the_shoulder_midpoint_in_the_file(data_dir, tmp_path):
    dataset = CocoDataset(DATASETS["mmpose-coco"])
    people = dataset.people(785)
    write_openpose_json(tmp_path / "a.json", people)
    flat = json.loads((tmp_path / "a.json").read_text())["people"][0]["pose_keypoints_2d"]
    neck = flat[3:6]
    ls, rs = people.keypoints[0, 5], people.keypoints[0, 6]
    np.testing.assert_allclose(neck, [(ls[0] + rs[0]) / 2, (ls[1] + rs[1]) / 2, 1.0])


def test_errors_name_the_file(tmp_path):
    with pytest.raises(MultiposeError, match="written in coco18 or body25, not coco17"):
        write_openpose_json(tmp_path / "a.json", Poses.empty(), "coco17")
    bad = tmp_path / "bad_keypoints.json"
    bad.write_text(json.dumps([1, 2]))
    with pytest.raises(MultiposeError, match="bad_keypoints.json: not an OpenPose JSON"):
        read_openpose_json(bad)
    bad.write_text(json.dumps({"people": [{"pose_keypoints_2d": [1, 2, 3, 4]}]}))
    with pytest.raises(MultiposeError, match="bad_keypoints.json: pose_keypoints_2d lists"):
        read_openpose_json(bad)
