"""Bad input on the command line: one line naming the file and what is wrong, exit status 1,
never a traceback; values a file cannot mean (NaN, strings as numbers) are refused, not used."""

import copy
import json

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
