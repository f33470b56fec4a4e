import json
from types import SimpleNamespace

import numpy as np
import pytest

from multipose.errors import MultiposeError
from multipose.io.media import read_image, write_image
from multipose.poses import Poses
from multipose.runner import (
    Cluster,
    Events,
    Job,
    ModelChoice,
    Options,
    Outputs,
    estimate_images,
    image_id,
)
from multipose.specs import get_spec


class Brightness:
    """A stand-in estimator: one person per image, its nose at (mean of red, mean of green),
    recording the size of each call's batch."""

    def __init__(self):
        self.calls = []

    def __call__(self, images, ids):
        self.calls.append(len(images))
        people = []
        for image in images:
            kp = np.zeros((1, 17, 3), np.float32)
            kp[0, :, :2] = image[..., :2].reshape(-1, 2).mean(axis=0)
            kp[0, :, 2] = 1
            people.append(Poses(kp, [1.0]))
        return people


@pytest.fixture
def folder(tmp_path):
    images = tmp_path / "images"
    rng = np.random.default_rng(0)
    for i in range(7):
        write_image(images / f"img_{i:03d}.png", rng.integers(0, 255, (20, 30, 3), np.uint8))
    (images / "img_003.png").write_bytes(b"broken")
    return images


@pytest.mark.parametrize(("workers", "batch_size"), [(0, 1), (2, 1), (3, 3)])
def test_every_image_gets_its_own_people_in_order(folder, tmp_path, workers, batch_size):
    paths = sorted(folder.iterdir())
    out = tmp_path / f"out{workers}{batch_size}"
    seen = []
    estimate = Brightness()
    summary = estimate_images(
        estimate,
        paths,
        Outputs(out),
        workers=workers,
        batch_size=batch_size,
        on_image=lambda path, error: seen.append((path.name, error is not None)),
    )
    assert summary.images == 6 and summary.people == 6 and summary.skipped == 0
    assert len(summary.failures) == 1 and "img_003.png" in summary.failures[0]
    assert seen == [(p.name, p.name == "img_003.png") for p in paths]
    assert max(estimate.calls) <= batch_size and sum(estimate.calls) == 6
    assert [r["image_id"] for r in summary.results] == [0, 1, 2, 4, 5, 6]
    readable = [p for p in paths if p.name != "img_003.png"]
    for path, result in zip(readable, summary.results, strict=True):
        expected = read_image(path)[..., :2].reshape(-1, 2).mean(axis=0)
        written = json.loads((out / f"{path.stem}_keypoints.json").read_text())
        np.testing.assert_allclose(written["people"][0]["pose_keypoints_2d"][:2], expected, 1e-3)
        np.testing.assert_allclose(result["keypoints"][:2], expected, 1e-3)


def test_resume_reads_back_what_was_done(folder, tmp_path):
    paths = sorted(folder.iterdir())
    out = Outputs(tmp_path / "out")
    first = estimate_images(Brightness(), paths[:4], out)
    estimate = Brightness()
    second = estimate_images(estimate, paths, out, resume=True)
    assert (first.images, second.images, second.skipped) == (3, 3, 3)
    assert sum(estimate.calls) == 3  # the broken image is tried again, the done ones not
    assert sorted(r["image_id"] for r in second.results) == [0, 1, 2, 4, 5, 6]


def test_a_failed_write_is_a_failure_of_its_image(folder, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "img_001_rendered.png").mkdir()  # a folder where the overlay should go
    paths = sorted(folder.iterdir())
    summary = estimate_images(Brightness(), paths, Outputs(out, render=True), workers=2)
    assert summary.images == 6
    assert any("img_001.png: could not write" in f for f in summary.failures)
    assert (out / "img_002_rendered.png").is_file()


def test_image_ids_from_file_names(tmp_path):
    assert image_id(tmp_path / "000000397133.jpg", 5) == 397133
    assert image_id(tmp_path / "ski.jpg", 5) == 5


def test_an_image_the_estimator_refuses_is_a_failure_and_the_job_goes_on(folder, tmp_path):
    def picky(images, ids):
        if any(i == 2 for i in ids):
            raise MultiposeError("no boxes for this image in dets.json")
        return Brightness()(images, ids)

    summary = estimate_images(picky, sorted(folder.iterdir()), Outputs(tmp_path / "out"))
    assert summary.images == 5 and len(summary.failures) == 2
    assert any("img_002.png: no boxes for this image" in f for f in summary.failures)
    assert (tmp_path / "out" / "img_006_keypoints.json").is_file()


class Loaded:
    """A stand-in for a `ModelChoice`: `load()` gives an estimator whose `batch` is `estimate`."""

    def __init__(self, estimate):
        self.estimate = estimate

    def load(self):
        return SimpleNamespace(batch=self.estimate)


def test_a_job_reports_its_images_and_writes_their_coco_results(folder, tmp_path):
    paths = sorted(folder.iterdir())
    out = tmp_path / "out"
    seen = []
    events = Events(
        begin=lambda name, total: seen.append((name, total)),
        image=lambda path, error: seen.append((path.name, bool(error))),
    )
    job = Job(Loaded(Brightness()), Outputs(out), paths, options=Options(workers=0))
    summary = job.run(events)
    assert (summary.images, summary.interrupted, len(summary.failures)) == (6, None, 1)
    assert seen == [("estimating", 7)] + [(p.name, p.name == "img_003.png") for p in paths]
    coco = json.loads((out / "coco_results.json").read_text())
    assert [r["image_id"] for r in coco] == [0, 1, 2, 4, 5, 6]


def test_ctrl_c_in_the_images_keeps_the_images_done_and_no_coco_file(folder, tmp_path):
    calls = []

    def interrupted(images, ids):
        calls.append(ids)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return Brightness()(images, ids)

    out = tmp_path / "out"
    job = Job(Loaded(interrupted), Outputs(out), sorted(folder.iterdir()))
    assert job.run().interrupted == "images"
    assert sorted(p.name for p in out.iterdir()) == [
        "img_000_keypoints.json",
        "img_001_keypoints.json",
    ]


def test_a_job_on_ray_refuses_videos(tmp_path):
    with pytest.raises(MultiposeError, match="--ray runs image files only"):
        Job(
            ModelChoice("openpose-mobilenet-v2"),
            Outputs(tmp_path),
            videos=[0],
            cluster=Cluster("auto"),
        )


def test_output_layouts():
    assert get_spec("blazepose-full").output_layout == "body25"  # BlazePose has heels
    assert get_spec("openpose-mobilenet-v2").output_layout == "coco18"
