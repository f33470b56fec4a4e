"""Bad input on the command line: one line naming the file and what is wrong, exit status 1,
never a traceback; values a file cannot mean (NaN, strings as numbers) are refused, not used."""

import copy
import json

import numpy as np
import pytest
from click.testing import CliRunner

from multipose.cli import main


def fails_in_one_line(*args, naming: str, saying: str) -> str:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: ") and naming in lines[0], lines[0]
    assert saying in lines[0], lines[0]
    return lines[0]


def write(path, data):
    path.write_text(json.dumps(data))  # NaN and Infinity as Python's json writes them
    return path


PERSON = [float(v) for i in range(17) for v in (100 + 3 * i, 50 + 5 * i, 2)]
GROUND_TRUTH = {
    "images": [{"id": 7, "file_name": "a.jpg", "width": 640, "height": 480}],
    "annotations": [
        {
            "id": 70,
            "image_id": 7,
            "category_id": 1,
            "iscrowd": 0,
            "keypoints": PERSON,
            "num_keypoints": 17,
            "bbox": [95.0, 45.0, 60.0, 95.0],
            "area": 5700.0,
        }
    ],
    "categories": [
        {"id": 1, "name": "person", "keypoints": [f"k{i}" for i in range(17)], "skeleton": []}
    ],
}
RESULT = {"image_id": 7, "category_id": 1, "keypoints": PERSON, "score": 0.9}


def test_evaluate_of_the_small_fixture_scores_one(tmp_path):
    """The fixture the bad cases below spoil is itself fine."""
    gt, pred = write(tmp_path / "gt.json", GROUND_TRUTH), write(tmp_path / "p.json", [RESULT])
    result = CliRunner().invoke(main, ["evaluate", "--gt", str(gt), "--pred", str(pred)])
    assert result.exit_code == 0 and result.output.splitlines()[1].split()[0] == "1.000"


@pytest.mark.parametrize(
    "change, saying",
    [
        ({"keypoints": ["a"] * 51}, "result 0: 'keypoints' holds \"a\", not a number"),
        ({"keypoints": [None] * 51}, "result 0: 'keypoints' holds null, not a number"),
        ({"keypoints": PERSON[:-1] + [float("nan")]}, "'keypoints' holds NaN, not a finite"),
        ({"keypoints": [float("inf")] + PERSON[1:]}, "'keypoints' holds Infinity"),
        ({"keypoints": [True] * 51}, "'keypoints' holds true, not a number"),
        ({"score": "high"}, "result 0: 'score' is \"high\", not a number"),
        ({"score": float("nan")}, "'score' is NaN, not a finite number"),
        ({"score": float("-inf")}, "'score' is -Infinity, not a finite number"),
        ({"image_id": [7]}, "result 0: 'image_id' is [7], not an integer"),
        ({"image_id": "7"}, "'image_id' is \"7\", not an integer"),
        ({"category_id": None}, "'category_id' is null, not an integer"),
    ],
)
def test_evaluate_refuses_predictions_it_cannot_score(tmp_path, change, saying):
    gt = write(tmp_path / "gt.json", GROUND_TRUTH)
    pred = write(tmp_path / "pred.json", [RESULT, dict(RESULT, **change)])
    fails_in_one_line(
        "evaluate", "--gt", gt, "--pred", pred, naming="pred.json", saying=saying.replace("0", "1")
    )


def _spoiled(**changes):
    """The fixture with top-level entries or the person's annotation changed (... removes)."""
    data = copy.deepcopy(GROUND_TRUTH)
    person = data["annotations"][0]
    for key, value in changes.items():
        (data if key in data else person)[key] = value
    for key in [k for k, v in person.items() if v is ...]:
        del person[key]
    return data


@pytest.mark.parametrize(
    "ground_truth, saying",
    [
        (_spoiled(categories="person"), "'categories' is not a list of objects"),
        (_spoiled(categories=[1]), "'categories' is not a list of objects"),
        (_spoiled(annotations={"id": 70}), "'annotations' is not a list of objects"),
        (
            _spoiled(categories=[{"id": "x", "keypoints": "nose"}]),
            "category \"x\": 'keypoints' is not a list of names",
        ),
        (
            _spoiled(categories=[{"id": "1", "name": "p", "keypoints": ["k"] * 17}]),
            'category "p": \'id\' is "1", not an integer',
        ),
        (_spoiled(bbox=None), "annotation 70: 'bbox' is null, not a list of numbers"),
        (_spoiled(bbox=None, area=...), "annotation 70: 'bbox' is null"),
        (_spoiled(bbox=[1, 2, 3]), "annotation 70: 'bbox' has 3 values, not 4"),
        (_spoiled(bbox=[1, 2, -3, 4]), "has a negative width or height"),
        (_spoiled(bbox=..., area=...), "annotation 70 has no 'bbox'"),
        (_spoiled(keypoints=["1"] * 51), "annotation 70: 'keypoints' holds \"1\", not a number"),
        (_spoiled(image_id=[7]), "annotation 70: 'image_id' is [7], not an integer"),
        (_spoiled(area="big"), "annotation 70: 'area' is \"big\", not a number"),
    ],
)
def test_evaluate_refuses_ground_truth_it_cannot_read(tmp_path, ground_truth, saying):
    gt = write(tmp_path / "gt.json", ground_truth)
    pred = write(tmp_path / "pred.json", [RESULT])
    fails_in_one_line("evaluate", "--gt", gt, "--pred", pred, naming="gt.json", saying=saying)


def test_evaluate_json_naming_a_folder_fails_before_scoring(tmp_path):
    gt = write(tmp_path / "gt.json", GROUND_TRUTH)
    pred = write(tmp_path / "pred.json", [RESULT])
    (tmp_path / "metrics").mkdir()
    fails_in_one_line(
        "evaluate",
        "--gt",
        gt,
        "--pred",
        pred,
        "--json",
        tmp_path / "metrics",
        naming="metrics",
        saying="is a folder; --json takes the name of a file",
    )


def openpose_document(value, key="x"):
    """One person of 18 keypoints in a 64x48 image; keypoint 1 (the neck) spoiled."""
    keypoints = [v for i in range(18) for v in (10.0 + 2 * i, 5.0 + 2 * i, 0.9)]
    if key == "x":
        keypoints[3] = keypoints[4] = value
    person = {"person_id": [-1], "pose_keypoints_2d": keypoints, "score": 0.9}
    if key != "x":
        person[key] = value
    return {"version": 1.3, "people": [person]}


@pytest.fixture
def image(tmp_path):
    from multipose.io.media import write_image

    path = tmp_path / "000000000007.png"
    write_image(path, np.full((48, 64, 3), 255, np.uint8))
    return path


@pytest.mark.parametrize(
    "document, saying",
    [
        (openpose_document(float("nan")), "person 0: 'pose_keypoints_2d' holds NaN"),
        (openpose_document(float("inf")), "'pose_keypoints_2d' holds Infinity, not a finite"),
        (openpose_document("12"), "'pose_keypoints_2d' holds \"12\", not a number"),
        (openpose_document("x", "score"), "person 0: 'score' is \"x\", not a number"),
        (openpose_document(["a"], "person_id"), "person 0: 'person_id' is \"a\", not an integer"),
        (
            [dict(RESULT, keypoints=PERSON[:3] + [float("nan")] + PERSON[4:])],
            "result 0: 'keypoints' holds NaN",
        ),
        ([dict(RESULT, keypoints=["1"] * 51)], "result 0: 'keypoints' holds \"1\", not a number"),
        ([dict(RESULT, image_id="7")], "result 0: 'image_id' is \"7\", not an integer"),
        ([dict(RESULT, bbox="x")], "result 0: 'bbox' is \"x\", not a list of numbers"),
        ([dict(RESULT, bbox=[float("nan")] * 4)], "result 0: 'bbox' holds NaN"),
    ],
)
def test_render_refuses_coordinates_that_are_not_numbers(tmp_path, image, document, saying):
    poses = write(tmp_path / "poses.json", document)
    out = tmp_path / "overlay.png"
    fails_in_one_line("render", image, poses, "--out", out, naming="poses.json", saying=saying)
    assert not out.exists()


@pytest.mark.parametrize("far", [1e30, -1e30, 3e9])
def test_render_draws_people_with_far_off_points(tmp_path, image, far):
    """A point far off the image is not drawn (with its limbs); the rest of the person is."""
    from multipose.io.media import read_image

    overlays = []
    for value in (far, 0.0):
        document = openpose_document(value)
        if value == 0.0:
            document["people"][0]["pose_keypoints_2d"][5] = 0.0  # the neck not found
        poses = write(tmp_path / "poses.json", document)
        out = tmp_path / f"overlay{len(overlays)}.png"
        result = CliRunner().invoke(main, ["render", str(image), str(poses), "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert "1 people drawn" in result.output
        overlays.append(read_image(out))
    assert (overlays[0] != 255).any()  # the person was drawn
    np.testing.assert_array_equal(overlays[0], overlays[1])  # as with the neck not found


def test_draw_skips_points_it_cannot_place():
    """The library draws what it can of people holding NaN, Inf or far-off points."""
    from multipose import Poses, draw

    kp = np.array(openpose_document(0.0)["people"][0]["pose_keypoints_2d"]).reshape(1, 18, 3)
    plain = draw(np.zeros((48, 64, 3), np.uint8), Poses(kp, layout="coco18"), boxes=True, ids=True)
    for value in (np.nan, np.inf, -np.inf, 1e30):
        spoiled = kp.copy()
        spoiled[0, 1, :2] = value
        for boxes in (None, [[value, 0, 60, 40]]):
            poses = Poses(spoiled, layout="coco18", boxes=boxes)
            canvas = draw(np.zeros((48, 64, 3), np.uint8), poses, boxes=True, ids=True)
            assert canvas.any() and canvas.shape == plain.shape


def detection(**changes):
    return {"image_id": 7, "category_id": 1, "bbox": [10, 5, 30, 40], "score": 0.9, **changes}


@pytest.mark.parametrize(
    "change, saying",
    [
        ({"bbox": 5}, "detection 1: 'bbox' is 5, not a list of numbers"),
        ({"bbox": ["a", "b", "c", "d"]}, "detection 1: 'bbox' holds \"a\", not a number"),
        ({"bbox": [1, 2, 3]}, "'bbox' has 3 values, not 4"),
        ({"bbox": [float("nan")] * 4}, "'bbox' holds NaN, not a finite number"),
        ({"bbox": [10, 5, -30, -40]}, "'bbox' [10, 5, -30, -40] is empty"),
        ({"bbox": [10, 5, 0, 40]}, "'bbox' [10, 5, 0, 40] is empty"),
        ({"image_id": "seven"}, "detection 1: 'image_id' is \"seven\", not an integer"),
        ({"score": "high"}, "detection 1: 'score' is \"high\", not a number"),
        ({"score": float("nan")}, "'score' is NaN, not a finite number"),
        ({"category_id": [1]}, "'category_id' is [1], not an integer"),
    ],
)
def test_a_detections_file_with_bad_boxes_is_reported(tmp_path, change, saying):
    from multipose.box_sources import DetectionFile
    from multipose.errors import MultiposeError

    path = write(tmp_path / "dets.json", [detection(), detection(**change)])
    with pytest.raises(MultiposeError) as info:
        DetectionFile(path)
    assert str(info.value).startswith(f"{path}: ") and saying in str(info.value)


def test_estimate_with_bad_boxes_fails_in_one_line(tmp_path, image):
    dets = write(tmp_path / "dets.json", [detection(bbox=[float("nan")] * 4)])
    fails_in_one_line(
        "estimate",
        image,
        "--boxes",
        dets,
        "--out",
        tmp_path / "out",
        naming="dets.json",
        saying="detection 0: 'bbox' holds NaN, not a finite number",
    )


def test_errors_of_a_job_are_not_wrapped(tmp_path, data_dir):
    """Off a terminal: no progress bar, and each error on one line however long."""
    from multipose.io.media import write_image

    folder = tmp_path / ("a_folder_with_a_name_long_enough_to_pass_eighty_columns" * 2)
    write_image(folder / "fine.png", np.full((64, 64, 3), 128, np.uint8))
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 20)
    weights = data_dir.parent / "weights" / "mediapipe-0.10.21"
    args = ["estimate", folder, "--model", "blazepose-full", "--weights", weights]
    result = CliRunner().invoke(main, [str(a) for a in [*args, "--out", tmp_path / "out"]])
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert "" not in lines
    assert f"error: {folder / 'broken.jpg'}: not an image (format not recognised)" in lines
    assert f"failed: {folder / 'broken.jpg'}: " in result.output
    assert len(lines) == 3, lines  # the error, the summary, the failure again
