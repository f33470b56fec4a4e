import json
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest

from multipose.errors import MultiposeError
from multipose.io.files import locked
from multipose.io.media import VideoWriter, iter_video, read_image, write_image
from multipose.io.openpose_json import read_openpose_json
from multipose.poses import Poses
from multipose.runner import (
    Cluster,
    Events,
    Job,
    ModelChoice,
    Options,
    Outputs,
    coco_id,
    estimate_images,
)
from multipose.runner.register import FIRST_OTHER_ID as FIRST
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
    outputs = Outputs(out)
    summary = estimate_images(
        estimate,
        outputs.register(paths),
        outputs,
        workers=workers,
        batch_size=batch_size,
        on_image=lambda path, error: seen.append((path.name, error is not None)),
    )
    assert summary.images == 6 and summary.people == 6 and summary.skipped == 0
    assert len(summary.failures) == 1 and "img_003.png" in summary.failures[0]
    assert seen == [(p.name, p.name == "img_003.png") for p in paths]
    assert max(estimate.calls) <= batch_size and sum(estimate.calls) == 6
    assert [r["image_id"] for r in summary.results] == [FIRST + i for i in (0, 1, 2, 4, 5, 6)]
    readable = [p for p in paths if p.name != "img_003.png"]
    for path, result in zip(readable, summary.results, strict=True):
        expected = read_image(path)[..., :2].reshape(-1, 2).mean(axis=0)
        written = json.loads((out / f"{path.stem}_keypoints.json").read_text())
        np.testing.assert_allclose(written["people"][0]["pose_keypoints_2d"][:2], expected, 1e-3)
        np.testing.assert_allclose(result["keypoints"][:2], expected, 1e-3)


class Slow(Brightness):
    """Brightness taking 50 ms a call, counting the calls that run at once."""

    def __init__(self):
        super().__init__()
        self.lock, self.running, self.most = threading.Lock(), 0, 0

    def __call__(self, images, ids):
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(0.05)
        with self.lock:
            self.running -= 1
        return super().__call__(images, ids)


@pytest.mark.parametrize(("spare", "most"), [(None, 2), (2, 2), (1, 1)])
def test_copies_estimate_batches_at_once_as_far_as_spare_cpus_allow(
    folder, tmp_path, monkeypatch, spare, most
):
    monkeypatch.setattr("multipose.runner.local.cpu_watch", lambda: lambda: spare)
    monkeypatch.setattr("multipose.runner.local.network_threads", lambda: 1)
    paths = sorted(folder.iterdir())
    seen, estimate = [], Slow()
    outputs = Outputs(tmp_path / "out")
    summary = estimate_images(
        estimate,
        outputs.register(paths),
        outputs,
        on_image=lambda path, error: seen.append((path.name, error is not None)),
        copies=[estimate],
    )
    assert estimate.most == most
    assert summary.images == 6 and seen == [(p.name, p.name == "img_003.png") for p in paths]
    assert [r["image_id"] for r in summary.results] == [FIRST + i for i in (0, 1, 2, 4, 5, 6)]
    readable = [p for p in paths if p.name != "img_003.png"]
    for path, result in zip(readable, summary.results, strict=True):  # each its own people
        expected = read_image(path)[..., :2].reshape(-1, 2).mean(axis=0)
        np.testing.assert_allclose(result["keypoints"][:2], expected, 1e-3)


def test_resume_reads_back_what_was_done(folder, tmp_path):
    paths = sorted(folder.iterdir())
    out = Outputs(tmp_path / "out")
    first = estimate_images(Brightness(), out.register(paths[:4]), out)
    estimate = Brightness()
    second = estimate_images(estimate, out.register(paths), out, resume=True)
    assert (first.images, second.images, second.skipped) == (3, 3, 3)
    assert sum(estimate.calls) == 3  # the broken image is tried again, the done ones not
    ids = sorted(r["image_id"] for r in second.results)
    assert ids == [FIRST + i for i in (0, 1, 2, 4, 5, 6)]  # the same ids as the first time


def test_a_failed_write_is_a_failure_of_its_image(folder, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "img_001_rendered.png").mkdir()  # a folder where the overlay should go
    outputs = Outputs(out, render=True)
    summary = estimate_images(
        Brightness(), outputs.register(sorted(folder.iterdir())), outputs, workers=2
    )
    assert summary.images == 6
    assert any("img_001.png: could not write" in f for f in summary.failures)
    assert (out / "img_002_rendered.png").is_file()


def test_coco_ids_from_coco_file_names(tmp_path):
    assert coco_id(tmp_path / "000000397133.jpg") == 397133
    assert coco_id(tmp_path / "COCO_val2014_000000000536.jpg") == 536
    for other in ("ski.jpg", "cam1_0001.jpg", "1.jpg", "0000000001.jpg", "x000000397133.jpg"):
        assert coco_id(tmp_path / other) is None


def test_an_image_the_estimator_refuses_is_a_failure_and_the_job_goes_on(folder, tmp_path):
    def picky(images, ids):
        if any(i == FIRST + 2 for i in ids):
            raise MultiposeError("no boxes for this image in dets.json")
        return Brightness()(images, ids)

    outputs = Outputs(tmp_path / "out")
    summary = estimate_images(picky, outputs.register(sorted(folder.iterdir())), outputs)
    assert summary.images == 5 and len(summary.failures) == 2
    assert any("img_002.png: no boxes for this image" in f for f in summary.failures)
    assert (tmp_path / "out" / "img_006_keypoints.json").is_file()


class Loaded:
    """A stand-in for a `ModelChoice`: its copies are estimators whose `batch` is `estimate`."""

    threads, device = None, "cpu"

    def __init__(self, estimate):
        self.estimate = estimate

    def load_copies(self, count, threads=None):
        return [SimpleNamespace(batch=self.estimate) for _ in range(count)]


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
    assert [r["image_id"] for r in coco] == [FIRST + i for i in (0, 1, 2, 4, 5, 6)]


def test_ctrl_c_in_the_images_keeps_the_images_done_and_no_coco_file(folder, tmp_path):
    def interrupted(images, ids):  # at the third image, while the fourth may run beside it
        if FIRST + 2 in ids:
            raise KeyboardInterrupt
        return Brightness()(images, ids)

    out = tmp_path / "out"
    job = Job(
        Loaded(interrupted), Outputs(out), sorted(folder.iterdir()), options=Options(at_once=2)
    )
    summary = job.run()
    assert (summary.interrupted, summary.images, summary.people) == ("images", 2, 2)
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "coco_images.json",
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


def _shades(folder, names):
    """Images named `names` in `folder`, each of its own shade (Brightness tells them apart)."""
    for i, name in enumerate(names):
        write_image(folder / name, np.full((8, 8, 3), 10 + 20 * i, np.uint8))
    return [folder / name for name in names]


def _nose_x(path):
    return json.loads(path.read_text())["people"][0]["pose_keypoints_2d"][0]


def test_each_image_gets_its_own_id_and_outputs_kept_on_resume(tmp_path):
    names = ["cam1_0001.jpg", "cam2_0001.jpg", "1.png", "pic.png", "pic.bmp", "000000397133.png"]
    paths = _shades(tmp_path / "in", names) + _shades(tmp_path / "in" / "sub", ["pic.png"])
    out = tmp_path / "out"
    summary = Job(Loaded(Brightness()), Outputs(out), paths).run()
    assert (summary.images, summary.failures) == (7, [])
    listed = json.loads((out / "coco_images.json").read_text())
    assert [r["file_name"] for r in listed] == [p.name for p in paths]
    assert [r["path"] for r in listed] == [str(p) for p in paths]
    ids = [r["id"] for r in listed]
    assert len(set(ids)) == 7 and ids[5] == 397133  # the COCO name keeps its COCO id
    assert [r["name"] for r in listed] == [
        "cam1_0001", "cam2_0001", "1", "pic", "pic_bmp", "000000397133", "pic_png"
    ]  # fmt: skip
    coco = json.loads((out / "coco_results.json").read_text())
    assert sorted(r["image_id"] for r in coco) == sorted(ids)
    for path, record in zip(paths, listed, strict=True):
        shade = float(read_image(path)[0, 0, 0])
        assert _nose_x(out / f"{record['name']}_keypoints.json") == pytest.approx(shade)
        assert [r["keypoints"][0] for r in coco if r["image_id"] == record["id"]] == [
            pytest.approx(shade)
        ]

    estimate = Brightness()
    job = Job(Loaded(estimate), Outputs(out), paths[::-1], options=Options(resume=True))
    assert (job.run().skipped, estimate.calls) == (7, [])
    assert json.loads((out / "coco_images.json").read_text()) == listed
    again = json.loads((out / "coco_results.json").read_text())
    assert sorted(json.dumps(r) for r in again) == sorted(json.dumps(r) for r in coco)


def test_jobs_sharing_a_folder_keep_each_others_coco_results(tmp_path):
    first = _shades(tmp_path / "a", ["000000000001.png", "x.png"])
    second = _shades(tmp_path / "b", ["x.png", "y.png"])
    out = tmp_path / "out"
    Job(Loaded(Brightness()), Outputs(out), first).run()
    with locked(out):  # a second job waits for the first to let go of the folder
        job = threading.Thread(target=Job(Loaded(Brightness()), Outputs(out), second).run)
        job.start()
        job.join(timeout=1.0)
        assert job.is_alive() and not (out / "x_png_keypoints.json").exists()
    job.join()
    listed = json.loads((out / "coco_images.json").read_text())
    assert [(r["id"], r["name"]) for r in listed] == [
        (1, "000000000001"), (FIRST, "x"), (FIRST + 1, "x_png"), (FIRST + 2, "y")
    ]  # fmt: skip
    coco = json.loads((out / "coco_results.json").read_text())
    assert sorted(r["image_id"] for r in coco) == [1, FIRST, FIRST + 1, FIRST + 2]
    # a job run again replaces its images' results and keeps the other job's
    Job(Loaded(Brightness()), Outputs(out), first[:1]).run()
    again = json.loads((out / "coco_results.json").read_text())
    assert sorted(json.dumps(r) for r in again) == sorted(json.dumps(r) for r in coco)


def test_a_coco_file_that_cannot_be_merged_with_is_refused_before_the_model_loads(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "coco_results.json").write_text('{"not": "results"}')

    class Unloadable:
        def load(self):
            raise AssertionError("the model was loaded")

    paths = _shades(tmp_path / "in", ["a.png"])
    with pytest.raises(MultiposeError, match=r"coco_results.json: not a COCO results file"):
        Job(Unloadable(), Outputs(out), paths).run()
    assert (out / "coco_results.json").read_text() == '{"not": "results"}'


def test_resume_redoes_an_image_whose_overlay_is_missing(tmp_path):
    paths = _shades(tmp_path / "in", ["a.png", "b.png", "c.png"])
    outputs = Outputs(tmp_path / "out", render=True)
    Job(Loaded(Brightness()), outputs, paths).run()
    (outputs.folder / "b_rendered.png").unlink()  # as if killed between the JSON and the PNG
    estimate = Brightness()
    summary = Job(Loaded(estimate), outputs, paths, options=Options(resume=True)).run()
    assert (summary.skipped, summary.images, estimate.calls) == (2, 1, [1])
    assert (outputs.folder / "b_rendered.png").is_file()
    # a damaged JSON is done again too
    (outputs.folder / "c_keypoints.json").write_text('{"people": [')
    estimate = Brightness()
    summary = Job(Loaded(estimate), outputs, paths, options=Options(resume=True)).run()
    assert (summary.skipped, summary.images, summary.failures) == (2, 1, [])
    assert _nose_x(outputs.folder / "c_keypoints.json") == pytest.approx(50)
    # without --render, the overlay is not asked for: the JSON is enough
    (outputs.folder / "b_rendered.png").unlink()
    plain = Outputs(outputs.folder)
    assert Job(Loaded(Brightness()), plain, paths, options=Options(resume=True)).run().skipped == 3


def _video(path, frames=12, noise=False):
    """An MJPG .avi of `frames` 64x48 frames, each of its own shade (noisy: larger frames)."""
    rng = np.random.default_rng(0)
    writer = VideoWriter(path, fps=10)
    for i in range(frames):
        frame = np.full((48, 64, 3), 10 + 20 * i, np.uint8)
        if noise:
            frame = rng.integers(0, 255, frame.shape, np.uint8)
        writer.write(frame)
    writer.close()
    return path


def test_a_video_that_breaks_off_is_a_failure_and_keeps_its_frames(tmp_path):
    whole = _video(tmp_path / "whole.avi", noise=True).read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(whole[: len(whole) // 3])  # the header still says 12 frames
    out = tmp_path / "out"
    summary = Job(Loaded(Brightness()), Outputs(out), videos=[cut]).run()
    index = json.loads((out / "cut_frames.json").read_text())
    assert 0 < summary.frames == len(index) < 12
    assert summary.failures == [
        f"{cut}: only {len(index)} of the 12 frames its header states could be read (cut off or "
        "damaged); those were written"
    ]


def test_a_videos_frames_read_back_one_file_each_from_a_folder_of_their_own(tmp_path):
    """The folder holds the frames' OpenPose JSON alone, as OpenPose's --write_json folder
    does: a reader of every file in it gets the frames in order."""
    first = _video(tmp_path / "a" / "clip.avi")
    second = _video(tmp_path / "b" / "clip.avi", frames=3)
    out = tmp_path / "out"
    summary = Job(Loaded(Brightness()), Outputs(out), videos=[first, second]).run()
    assert (summary.frames, summary.failures) == (15, [])
    for name, video, count in (("clip", first, 12), ("clip_avi", second, 3)):
        files = sorted((out / f"{name}_keypoints").iterdir())
        assert [f.name for f in files] == [f"{name}_{i:012d}_keypoints.json" for i in range(count)]
        index = json.loads((out / f"{name}_frames.json").read_text())
        assert [out / f["file"] for f in index] == files
        shades = [frame[..., 0].mean() for _, _, frame in iter_video(video)]
        for file, shade in zip(files, shades, strict=True):
            assert read_openpose_json(file).keypoints[0, 0, 0] == pytest.approx(shade, abs=1e-3)


def test_an_image_over_the_pixel_limit_is_reported_and_the_batch_goes_on(tmp_path):
    from PIL import Image

    paths = _shades(tmp_path / "in", ["a.png", "c.png"])
    Image.new("1", (20000, 10000)).save(tmp_path / "in" / "b.png")  # 200 megapixels, 25 kB
    paths.insert(1, tmp_path / "in" / "b.png")
    out = tmp_path / "out"
    for resume in (False, True):
        summary = Job(
            Loaded(Brightness()), Outputs(out), paths, options=Options(resume=resume)
        ).run()
        assert summary.failures == [
            f"{paths[1]}: too large to read (200,000,000 pixels, over the limit of "
            f"{Image.MAX_IMAGE_PIXELS:,} pixels, PIL.Image.MAX_IMAGE_PIXELS); downscale it"
        ]
        assert summary.images + summary.skipped == 2
        assert len(json.loads((out / "coco_results.json").read_text())) == 2
