import json
import subprocess
import sys

import numpy as np
from click.testing import CliRunner

from multipose import __version__
from multipose.cli import main
from multipose.io.coco import CocoDataset, write_coco_results
from multipose.io.media import read_image


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_version_from_the_module_and_the_console_script():
    out = subprocess.run(
        [sys.executable, "-m", "multipose", "--version"], capture_output=True, text=True, check=True
    )
    assert __version__ in out.stdout
    assert run("--version").output.strip().endswith(__version__)


def test_evaluate_ground_truth_prints_ap_one(coco_val, tmp_path):
    pred = tmp_path / "pred.json"
    write_coco_results(pred, CocoDataset(coco_val).ground_truth_results())
    result = run("evaluate", "--gt", coco_val, "--pred", pred, "--json", tmp_path / "m.json")
    assert result.exit_code == 0, result.output
    header, values = result.output.strip().splitlines()
    assert header.split()[:6] == ["AP", "AP50", "AP75", "APm", "APl", "AR"]
    assert values.split()[0] == "1.000"
    assert json.loads((tmp_path / "m.json").read_text())["AP"] == 1.0


def test_evaluate_reports_bad_input_without_a_traceback(coco_val, tmp_path):
    pred = tmp_path / "pred.json"
    pred.write_text('[{"image_id": 1, "keypoints": [1, 2, 1], "score": 1}]')
    result = run("evaluate", "--gt", coco_val, "--pred", pred)
    assert result.exit_code == 1
    assert "error:" in result.output and "pred.json" in result.output
    assert "not in the ground truth" in result.output
    assert "Traceback" not in result.output


def test_render_ground_truth_on_a_real_image(coco_val, tmp_path):
    dataset = CocoDataset(coco_val)
    image_id = max(dataset.image_ids, key=lambda i: len(dataset.people(i)))
    record = dataset.images[image_id]
    out = tmp_path / "overlay.png"
    result = run("render", record.path, coco_val, "--out", out, "--boxes")
    assert result.exit_code == 0, result.output
    assert f"{len(dataset.people(image_id))} people" in result.output
    overlay, original = read_image(out), read_image(record.path)
    assert overlay.shape == original.shape
    changed = np.abs(overlay.astype(int) - original).sum(axis=2) > 60
    nose = dataset.people(image_id).keypoints[0, 0]
    x, y = nose[:2].astype(int)
    assert changed[y - 2 : y + 3, x - 2 : x + 3].any()  # a keypoint was drawn there
    assert changed.mean() < 0.2


def test_render_reads_openpose_json_and_coco_results(data_dir, tmp_path):
    dataset = CocoDataset(data_dir / "mmpose-tests" / "coco" / "test_coco.json")
    record = dataset.images[785]
    poses = dataset.people(785)
    (tmp_path / "op.json").write_text(json.dumps(poses.to_openpose("body25")))
    write_coco_results(tmp_path / "res.json", dataset.ground_truth_results())
    for poses_file in ("op.json", "res.json"):
        result = run("render", record.path, tmp_path / poses_file, "--out", tmp_path / "o.jpg")
        assert result.exit_code == 0, result.output
        assert f"{len(poses)} people" in result.output


def test_synthetic_writes_a_dataset(tmp_path):
    result = run("synthetic", tmp_path, "--images", 2, "--people", "3", "--size", "160x120")
    assert result.exit_code == 0, result.output
    dataset = CocoDataset(tmp_path / "annotations.json")
    assert [len(dataset.people(i)) for i in dataset.image_ids] == [3, 3]
    assert read_image(dataset.images[1].path).shape == (120, 160, 3)
    assert run("synthetic", tmp_path, "--people", "5-2").exit_code == 2
