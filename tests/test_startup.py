"""Start-up: the commands that run no network do not import torch (seconds of start-up)."""

import json
import os
import subprocess
import sys

import pytest

from conftest import DATASETS, SHARED

RUN = """
import sys
from multipose.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exit:
    assert not exit.code, exit.code
print("torch" in sys.modules)
"""


def _imports_torch(*args: str) -> bool:
    done = subprocess.run(
        [sys.executable, "-c", RUN, *args], capture_output=True, text=True, check=True
    )
    return done.stdout.strip().splitlines()[-1] == "True"


def test_help_and_models_do_not_import_torch():
    assert not _imports_torch("--help")
    assert not _imports_torch("models")


def test_evaluate_and_render_do_not_import_torch(tmp_path):
    annotations, photo = DATASETS["coco-mini-val2017"], SHARED / "data" / "photos" / "ski.jpg"
    if not annotations.is_file() or not photo.is_file():
        pytest.skip("../shared/data is not beside the checkout")
    person = {"image_id": 397133, "category_id": 1, "score": 0.9}
    person["keypoints"] = [v for i in range(17) for v in (300 + i, 200 + 5 * i, 1)]
    results = tmp_path / "results.json"
    results.write_text(json.dumps([person]))
    assert not _imports_torch("evaluate", "--gt", str(annotations), "--pred", str(results))
    poses = tmp_path / "ski_keypoints.json"
    people = [{"pose_keypoints_2d": [v for i in range(18) for v in (100 + i, 100 + i, 0.9)]}]
    poses.write_text(json.dumps({"version": 1.3, "people": people}))
    out = tmp_path / "drawn.png"
    assert not _imports_torch("render", str(photo), str(poses), "--out", str(out))
    assert out.is_file()


def test_the_check_sees_torch_where_it_is_imported():
    assert _imports_torch("estimate", "--help") is False  # the help alone stays light
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, multipose; multipose.load; print('torch' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "True"  # `load` brings torch: the check would see it


def test_openmp_threads_wait_passively_unless_told_otherwise():
    show = "import os, multipose, torch; print(os.environ['OMP_WAIT_POLICY'])"
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    done = subprocess.run([sys.executable, "-c", show], capture_output=True, text=True, env=env)
    assert done.stdout.strip() == "PASSIVE"
    env["OMP_WAIT_POLICY"] = "ACTIVE"
    done = subprocess.run([sys.executable, "-c", show], capture_output=True, text=True, env=env)
    assert done.stdout.strip() == "ACTIVE"
